-- 0002: pending authorizations (N-of-M approvals before a receipt is issued).
-- The PostgreSQL twin of sqlite/0002_authorizations.sql, same meaning.

CREATE TABLE authorizations (
    id         BYTEA  NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    requester  TEXT   NOT NULL,
    record     BYTEA  NOT NULL,
    threshold  BIGINT NOT NULL,
    deny_limit BIGINT NOT NULL,
    approvals  BIGINT NOT NULL,
    denials    BIGINT NOT NULL,
    state      TEXT   NOT NULL,
    decided_at BIGINT
);

CREATE INDEX authorizations_state_expires_at ON authorizations (state, expires_at);

CREATE TABLE authorization_approvers (
    authorization_id BYTEA  NOT NULL REFERENCES authorizations (id),
    approver         TEXT   NOT NULL,
    position         BIGINT NOT NULL,
    decision         TEXT,
    cose             BYTEA,
    decided_at       BIGINT,
    PRIMARY KEY (authorization_id, approver)
);

CREATE INDEX authorization_approvers_approver ON authorization_approvers (approver, decision);
