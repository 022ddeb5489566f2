package store

import "testing"

func TestRebind(t *testing.T) {
	cases := []struct {
		d        dialect
		in, want string
	}{
		{sqliteDialect, `SELECT a FROM t WHERE id = ? AND b = ?`, `SELECT a FROM t WHERE id = ? AND b = ?`},
		{postgresDialect, `SELECT a FROM t WHERE id = ? AND b = ?`, `SELECT a FROM t WHERE id = $1 AND b = $2`},
		{postgresDialect, `SELECT 1`, `SELECT 1`},
		{postgresDialect, `SELECT '?' , ? FROM "we?ird" WHERE x = ?`, `SELECT '?' , $1 FROM "we?ird" WHERE x = $2`},
		{postgresDialect, `SELECT 'it''s?', ?`, `SELECT 'it''s?', $1`},
		{postgresDialect, `VALUES (?,?,?,?,?,?,?,?,?,?,?)`, `VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`},
		{postgresDialect, insertReceipt, `INSERT INTO receipts (id, issued_at, subject, bundle, owner) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO NOTHING`},
	}
	for _, tc := range cases {
		if got := tc.d.rebind(tc.in); got != tc.want {
			t.Errorf("%s.rebind(%q) = %q, want %q", tc.d.name, tc.in, got, tc.want)
		}
	}
}
