package store

import (
	"io/fs"
	"strconv"
	"strings"
)

// dialect is the per-backend hook: how placeholders are spelled and which
// embedded migrations create the schema. Queries are written once, with `?`
// placeholders and portable SQL (INSERT ... ON CONFLICT, integer seconds).
type dialect struct {
	name string
	// numbered selects PostgreSQL-style $1, $2, ... placeholders instead of ?.
	numbered bool
	// migrations holds NNNN_name.sql files (see migrate.go).
	migrations fs.FS
	// migrationLock, if set, is the first statement of the migration
	// transaction: it serialises migrating processes (PostgreSQL's advisory
	// lock; SQLite's BEGIN IMMEDIATE does that already).
	migrationLock string
}

// rebind rewrites the `?` placeholders of query for d. Question marks inside
// single-quoted literals or double-quoted identifiers are left alone.
func (d dialect) rebind(query string) string {
	if !d.numbered || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte // 0, '\'' or '"'
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote re-enters on the next byte: still correct
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
