-- 0001: receipts, execution tokens, used request contexts, receipt replay cache.
-- Timestamps are integer Unix seconds; ids and digests are binary.
-- PostgreSQL: BLOB -> BYTEA, INTEGER -> BIGINT, drop STRICT (see README.md).

CREATE TABLE receipts (
    id        BLOB    NOT NULL PRIMARY KEY,
    issued_at INTEGER NOT NULL,
    subject   TEXT    NOT NULL,
    cose      BLOB    NOT NULL,
    bundle    BLOB    NOT NULL
) STRICT;

CREATE TABLE execution_tokens (
    id          BLOB    NOT NULL PRIMARY KEY,
    receipt_id  BLOB    NOT NULL REFERENCES receipts (id),
    digest      BLOB    NOT NULL,
    audience    TEXT    NOT NULL,
    not_before  INTEGER NOT NULL,
    expires     INTEGER NOT NULL,
    key_binding BLOB    NOT NULL,
    redeemed_at INTEGER,
    redeemed_by TEXT
) STRICT;

CREATE INDEX execution_tokens_receipt_id ON execution_tokens (receipt_id);

CREATE TABLE used_contexts (
    crc     BLOB    NOT NULL PRIMARY KEY,
    conn_id TEXT    NOT NULL,
    used_at INTEGER NOT NULL
) STRICT;

CREATE INDEX used_contexts_used_at ON used_contexts (used_at);

CREATE TABLE receipt_replay (
    id         BLOB    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX receipt_replay_expires_at ON receipt_replay (expires_at);
