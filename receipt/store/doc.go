// Package store is the durable state behind seatrx receipts: issued receipts,
// execution tokens and their single redemption, used certificate request
// contexts, the receipt-id replay cache of online verification, and pending
// authorizations with their approvers' decisions, completed exactly once.
//
// It is a thin layer over database/sql. The default backend is an embedded
// SQLite file (modernc.org/sqlite, pure Go) opened in WAL mode with
// synchronous=FULL, so every method that writes returns only after its
// transaction is committed to stable storage. Queries are kept portable
// (placeholders go through a small dialect hook, timestamps are integer Unix
// seconds, binary values are BLOB/BYTEA) so that a PostgreSQL backend can
// follow; see README.md for what differs there.
//
// The store keeps each receipt once, as opaque bytes (its bundle): it does not parse,
// sign or verify them, and it imports no other seatrx package.
package store
