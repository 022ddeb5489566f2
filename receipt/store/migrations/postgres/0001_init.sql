-- 0001: receipts, execution tokens, used request contexts, receipt replay cache.
-- The PostgreSQL twin of sqlite/0001_init.sql, same meaning: timestamps are
-- integer Unix seconds (BIGINT); ids and digests are binary (BYTEA).

CREATE TABLE receipts (
    id        BYTEA  NOT NULL PRIMARY KEY,
    issued_at BIGINT NOT NULL,
    subject   TEXT   NOT NULL,
    cose      BYTEA  NOT NULL,
    bundle    BYTEA  NOT NULL
);

CREATE TABLE execution_tokens (
    id          BYTEA  NOT NULL PRIMARY KEY,
    receipt_id  BYTEA  NOT NULL REFERENCES receipts (id),
    digest      BYTEA  NOT NULL,
    audience    TEXT   NOT NULL,
    not_before  BIGINT NOT NULL,
    expires     BIGINT NOT NULL,
    key_binding BYTEA  NOT NULL,
    redeemed_at BIGINT,
    redeemed_by TEXT
);

CREATE INDEX execution_tokens_receipt_id ON execution_tokens (receipt_id);

CREATE TABLE used_contexts (
    crc     BYTEA  NOT NULL PRIMARY KEY,
    conn_id TEXT   NOT NULL,
    used_at BIGINT NOT NULL
);

CREATE INDEX used_contexts_used_at ON used_contexts (used_at);

CREATE TABLE receipt_replay (
    id         BYTEA  NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX receipt_replay_expires_at ON receipt_replay (expires_at);
