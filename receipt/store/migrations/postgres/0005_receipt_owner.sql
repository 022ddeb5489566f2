-- 0005: who may read a receipt back: the SHA-256 of the key of the peer it
-- was issued to. Rows stored before this migration have no owner (empty).
-- The PostgreSQL twin of sqlite/0005_receipt_owner.sql.

ALTER TABLE receipts ADD COLUMN owner BYTEA NOT NULL DEFAULT '\x'::bytea;
