// Package capture records what a tester needs to see of attested
// connections, for the --keylog and --dump flags of the server, the client
// and the conformance commands: the TLS secrets in the NSS key log format
// (what SSLKEYLOGFILE writes, read by Wireshark to decrypt the stream), and
// every exported-authenticator message with the exporter outputs, binder
// and REPORTDATA behind it. Go's TLS stack logs the four TLS 1.3 traffic
// secrets but no EXPORTER_SECRET, so the exporter outputs that a binder is
// derived from are in the dump, not the key log. Both defeat the connection's confidentiality and
// the dump holds the keys that make authenticators: they are off by
// default and announced loudly when on.
package capture

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// KeyLogWarning is printed (to stderr, and logged by the server) whenever a
// key log is opened.
const KeyLogWarning = `WARNING: --keylog %s is ON. Every TLS connection's secrets are written to it
WARNING: (NSS key log format): whoever reads the file can decrypt these connections.
WARNING: Debugging only; never in production.
`

// OpenKeyLog opens path for appending NSS key log lines, creating it with
// mode 0600 (an existing file is narrowed to 0600), writes KeyLogWarning to
// warn, and returns the writer for tls.Config.KeyLogWriter. Lines from
// concurrent connections are written whole, one at a time.
func OpenKeyLog(path string, warn io.Writer) (io.WriteCloser, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--keylog: %w", err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("--keylog: %w", err)
	}
	if warn != nil {
		fmt.Fprintf(warn, KeyLogWarning, path)
	}
	return &keyLog{f: f}, nil
}

type keyLog struct {
	mu sync.Mutex
	f  *os.File
}

func (k *keyLog) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.f.Write(p)
}

func (k *keyLog) Close() error { return k.f.Close() }
