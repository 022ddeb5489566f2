-- 0002: pending authorizations (N-of-M approvals before a receipt is issued).
-- An authorization's id becomes its receipt's id. The record is the
-- server's opaque description of it; the store keeps the counters and the
-- state, whose transitions are single conditional UPDATEs (see README.md).
-- PostgreSQL: BLOB -> BYTEA, INTEGER -> BIGINT, drop STRICT.

CREATE TABLE authorizations (
    id         BLOB    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    requester  TEXT    NOT NULL,
    record     BLOB    NOT NULL,
    threshold  INTEGER NOT NULL,
    deny_limit INTEGER NOT NULL,
    approvals  INTEGER NOT NULL,
    denials    INTEGER NOT NULL,
    state      TEXT    NOT NULL,
    decided_at INTEGER
) STRICT;

CREATE INDEX authorizations_state_expires_at ON authorizations (state, expires_at);

CREATE TABLE authorization_approvers (
    authorization_id BLOB    NOT NULL REFERENCES authorizations (id),
    approver         TEXT    NOT NULL,
    position         INTEGER NOT NULL,
    decision         TEXT,
    cose             BLOB,
    decided_at       INTEGER,
    PRIMARY KEY (authorization_id, approver)
) STRICT;

CREATE INDEX authorization_approvers_approver ON authorization_approvers (approver, decision);
