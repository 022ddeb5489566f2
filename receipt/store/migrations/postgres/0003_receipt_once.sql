-- 0003: a receipt is stored once. The bundle the issuer hands out carries the
-- signed COSE_Sign1, so the separate "cose" copy doubled every receipt.
-- A row stored without a bundle keeps its COSE_Sign1 as its stored form.
-- Portable as written (SQLite >= 3.35 and PostgreSQL drop a column alike).

UPDATE receipts SET bundle = cose WHERE length(bundle) = 0;
ALTER TABLE receipts DROP COLUMN cose;
