-- 0004: the readiness probe's table: Store.Probe inserts and deletes one row
-- in a committed transaction to prove the store can write. Always empty.
-- PostgreSQL: INTEGER -> BIGINT, drop STRICT.

CREATE TABLE probe (
    id INTEGER NOT NULL PRIMARY KEY,
    at INTEGER NOT NULL
) STRICT;
