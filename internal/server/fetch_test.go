package server

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/seatrx/seatrx/evidence/fetch"
)

// TestFetchCacheDirConfig: FetchCacheDir creates the online-collateral cache
// (0700) when the server is built, and an unusable path stops New with
// fetch.ErrCache instead of silently running offline.
func TestFetchCacheDirConfig(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := filepath.Join(t.TempDir(), "kds-pcs-cache")
	s, err := New(Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dev: true, Logger: quiet, FetchCacheDir: dir})
	if err != nil {
		t.Fatalf("New with FetchCacheDir: %v", err)
	}
	t.Cleanup(func() { s.store.Close() })
	if st, err := os.Stat(dir); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Fatalf("fetch cache dir: %v, %v; want a 0700 directory", st, err)
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dev: true, Logger: quiet, FetchCacheDir: file})
	if !errors.Is(err, fetch.ErrCache) {
		t.Fatalf("New with a file as FetchCacheDir: %v, want fetch.ErrCache", err)
	}
	_, err = New(Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dev: true, Logger: quiet, FetchCacheDir: dir, FetchTimeout: -1})
	if !errors.Is(err, fetch.ErrConfig) {
		t.Fatalf("New with a negative FetchTimeout: %v, want fetch.ErrConfig", err)
	}
}
