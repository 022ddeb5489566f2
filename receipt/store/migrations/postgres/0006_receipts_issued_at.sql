-- 0006: an index on receipts (issued_at, id), so that EdgeReceipts (the first
-- and the last receipt by issue time, read at every server start) is two
-- index probes instead of two scans of the whole table.

CREATE INDEX receipts_issued_at ON receipts (issued_at, id);
