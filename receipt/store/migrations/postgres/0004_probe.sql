-- 0004: the readiness probe's table: Store.Probe inserts and deletes one row
-- in a committed transaction to prove the store can write. Always empty.
-- The PostgreSQL twin of sqlite/0004_probe.sql.

CREATE TABLE probe (
    id BIGINT NOT NULL PRIMARY KEY,
    at BIGINT NOT NULL
);
