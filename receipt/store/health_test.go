package store

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"modernc.org/sqlite"
)

func TestProbeWritesNothingLasting(t *testing.T) {
	eachBackend(t, probeWritesNothingLasting)
}

func probeWritesNothingLasting(t *testing.T, bk testBackend) {
	s, _ := bk.open(t)
	for range 3 {
		if err := s.Probe(context.Background()); err != nil {
			t.Fatalf("Probe: %v", err)
		}
	}
	if n := countRows(t, s, "probe"); n != 0 {
		t.Fatalf("probe table holds %d rows after probes", n)
	}
	if free, err := s.Free(); err != nil || free == 0 {
		t.Fatalf("Free = %d, %v", free, err)
	}
}

// A store with damaged pages is refused at open (quick_check), and so is a
// file that is not a database at all; both name ErrCorrupt.
func TestOpenRefusesDamagedStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seatrx.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		putIssued(t, s, fmt.Sprintf("r%03d", i), fmt.Sprintf("t%03d", i))
	}
	if err := s.Close(); err != nil { // the last close checkpoints the WAL into the file
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if st.Size() < 16*4096 {
		t.Fatalf("store is only %d bytes", st.Size())
	}
	// Damage pages in the middle (the b-tree pages of the receipts), not the header.
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 6*4096), 8*4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = OpenSQLite(path)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open of a damaged store: %v, want ErrCorrupt", err)
	}

	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 500), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSQLite(junk); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open of a non-database: %v, want ErrCorrupt", err)
	}
}

// A store file deleted after first use is not recreated empty; deleting
// the marker, as the error says, is the explicit way to start over.
func TestOpenRefusesDeletedStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "seatrx.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	putIssued(t, s, "r1", "t1")
	s.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	_, err = OpenSQLite(path)
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), markerName(path)) {
		t.Fatalf("open of a deleted store: %v, want ErrMissing naming the marker", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused open created the file: %v", err)
	}
	if err := os.Remove(markerName(path)); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSQLite(path)
	if err != nil {
		t.Fatalf("open after removing the marker: %v", err)
	}
	defer s.Close()
	if n := countRows(t, s, "receipts"); n != 0 {
		t.Fatalf("new store holds %d receipts", n)
	}
}

// fullDriver wraps the SQLite driver; once armed, every new connection has
// max_page_count at its current size, so the next write that needs a page
// fails with a real SQLITE_FULL, as on a full disk.
type fullDriver struct {
	inner sqlite.Driver
	armed atomic.Bool
}

func (d *fullDriver) Open(name string) (driver.Conn, error) {
	c, err := d.inner.Open(name)
	if err != nil || !d.armed.Load() {
		return c, err
	}
	if _, err := c.(driver.ExecerContext).ExecContext(context.Background(), "PRAGMA max_page_count = 1", nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

var fullSeq atomic.Int64

func TestDiskFullIsNamed(t *testing.T) {
	d := &fullDriver{}
	name := fmt.Sprintf("sqlite-full-%d", fullSeq.Add(1))
	sql.Register(name, d)
	s, err := openSQLite(name, filepath.Join(t.TempDir(), "seatrx.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.db.SetMaxIdleConns(0) // every statement gets a new (armed) connection
	d.armed.Store(true)
	r := sampleReceipt("big")
	r.Bundle = bytes.Repeat([]byte{1}, 64<<10)
	err = s.PutReceiptWithToken(context.Background(), r, sampleToken("tbig", "big"))
	if err == nil {
		t.Fatal("a write past max_page_count succeeded")
	}
	if !s.IsDiskFull(err) {
		t.Fatalf("IsDiskFull(%v) = false", err)
	}
	if err := s.Probe(context.Background()); err != nil && !s.IsDiskFull(err) {
		t.Fatalf("Probe on a full store: %v, not disk full", err)
	}
	for _, other := range []error{nil, errors.New("x"), ErrNotFound, &BackendError{Op: "x", Err: errors.New("io")}} {
		if s.IsDiskFull(other) {
			t.Errorf("IsDiskFull(%v) = true", other)
		}
	}
}
