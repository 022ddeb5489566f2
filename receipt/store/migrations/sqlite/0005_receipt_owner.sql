-- 0005: who may read a receipt back: the SHA-256 of the key of the peer it
-- was issued to (its attested key; an X.509-SVID for that key proves the
-- same). Rows stored before this migration have no owner (empty): only an
-- auditor reads them.
-- PostgreSQL: BLOB -> BYTEA, X'' -> '\x'::bytea.

ALTER TABLE receipts ADD COLUMN owner BLOB NOT NULL DEFAULT X'';
