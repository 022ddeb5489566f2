package store

import "math"

// DiskFullBelow is the free space under which an SQLite I/O error is taken
// for a full disk (IsDiskFull), and under which a server reports itself not
// ready (1 MiB: less than one group commit of the largest receipts).
const DiskFullBelow = 1 << 20

// Free returns the bytes available to this process on the file system that
// holds the store's file. A PostgreSQL store has no local file: its space
// is the database server's to watch (a full disk there is SQLSTATE 53100,
// IsDiskFull), so Free reports math.MaxUint64.
func (s *Store) Free() (uint64, error) {
	if s.dir == "" {
		return math.MaxUint64, nil
	}
	return FreeBytes(s.dir)
}
