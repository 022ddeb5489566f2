package store

// DiskFullBelow is the free space under which an SQLite I/O error is taken
// for a full disk (IsDiskFull), and under which a server reports itself not
// ready (1 MiB: less than one group commit of the largest receipts).
const DiskFullBelow = 1 << 20

// Free returns the bytes available to this process on the file system that
// holds the store's file.
func (s *Store) Free() (uint64, error) { return FreeBytes(s.dir) }
