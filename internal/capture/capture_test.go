package capture

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/tlsbind"
)

// pair returns both ends of a TLS 1.3 loopback connection whose client
// writes its key log to keyLog.
func pair(t *testing.T, keyLog io.Writer) (c, s *tls.Conn) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "capture.test"},
		DNSNames: []string{"capture.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	leaf, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan *tls.Conn, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		sc := tls.Server(raw, tlsbind.ServerConfig([]tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, nil))
		if sc.Handshake() != nil {
			ch <- nil
			return
		}
		ch <- sc
	}()
	cfg := tlsbind.ClientConfig(roots, "capture.test")
	cfg.KeyLogWriter = keyLog
	c, err = tls.Dial("tcp", ln.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s = <-ch; s == nil {
		t.Fatal("server handshake failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// The key log is the NSS format Go's TLS writes (the four TLS 1.3 traffic
// secrets of each connection, keyed by its client random), in a 0600 file,
// announced on the warning writer. Go writes no EXPORTER_SECRET line, so
// the exporter outputs a binder needs come from the dump, not the key log.
func TestKeyLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var warn bytes.Buffer
	kl, err := OpenKeyLog(path, &warn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warn.String(), "WARNING: --keylog "+path+" is ON") {
		t.Fatalf("warning: %q", warn.String())
	}
	pair(t, kl)
	pair(t, kl)
	kl.Close()
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600 (an existing file is narrowed)", st.Mode().Perm())
	}
	f, _ := os.Open(path)
	defer f.Close()
	labels := map[string]int{}
	randoms := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || len(fields[1]) != 64 || len(fields[2]) != 64 {
			t.Fatalf("not an NSS key log line: %q", sc.Text())
		}
		labels[fields[0]]++
		randoms[fields[1]] = true
	}
	for _, l := range []string{"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"} {
		if labels[l] != 2 {
			t.Errorf("%s: %d lines, want one per connection", l, labels[l])
		}
	}
	if len(randoms) != 2 {
		t.Errorf("%d client randoms, want 2", len(randoms))
	}
	if _, err := OpenKeyLog(t.TempDir(), nil); err == nil {
		t.Fatal("a directory was accepted as a key log")
	}
}

// The dump holds, per connection, an index and one hex file per byte
// string: the RFC 9261 exporter outputs, each message, each binder.
func TestDump(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dump")
	var warn bytes.Buffer
	d, err := OpenDump(dir, &warn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warn.String(), "WARNING: --dump "+dir+" is ON") {
		t.Fatalf("warning: %q", warn.String())
	}
	c, _ := pair(t, nil)
	cs := c.ConnectionState()
	s := d.Start("client/1", expat.Client, &cs)
	if d.Start("client/1", expat.Client, &cs).Dir() == s.Dir() {
		t.Fatal("two sessions share a directory")
	}
	req, _ := expat.NewRequest(expat.Client, expat.RequestOptions{OfferCMW: true})
	s.Message(Sent, KindRequest, req.Raw, "")
	s.Message(Received, KindError, []byte(`{"code":"expat.bad_signature"}`), "expat.bad_signature")
	ch, _ := tlsbind.Channel(&cs)
	b, err := tlsbind.DefaultProfile().Binder(ch, req.Context, []byte("spki"))
	if err != nil {
		t.Fatal(err)
	}
	s.Binder("ours", b, req.Context, []byte("spki"))

	raw, err := os.ReadFile(filepath.Join(s.Dir(), "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx index
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Schema != DumpSchema || idx.Role != "client" || idx.TLS == nil || idx.TLS.Version != "TLS 1.3" || len(idx.Items) != 7 {
		t.Fatalf("index: %s", raw)
	}
	readHex := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(s.Dir(), name))
		if err != nil {
			t.Fatal(err)
		}
		out, err := hex.DecodeString(strings.ReplaceAll(string(b), "\n", ""))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Exporter outputs: as the connection computes them.
	for i, label := range []string{"EXPORTER-client authenticator handshake context", "EXPORTER-client authenticator finished key",
		"EXPORTER-server authenticator handshake context", "EXPORTER-server authenticator finished key"} {
		it := idx.Items[i]
		want, _ := cs.ExportKeyingMaterial(label, nil, 32)
		if it.What != "exporter" || it.Label != label || !bytes.Equal(readHex(it.File), want) || it.Hex != hex.EncodeToString(want) {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	if it := idx.Items[4]; it.What != KindRequest || it.Dir != Sent || !bytes.Equal(readHex(it.File), req.Raw) || it.Bytes != len(req.Raw) {
		t.Fatalf("request item %+v", it)
	}
	if it := idx.Items[5]; it.What != KindError || it.Code != "expat.bad_signature" {
		t.Fatalf("error item %+v", it)
	}
	it := idx.Items[6]
	if it.What != "binder" || it.Profile != "expat-04" || it.Label != tlsbind.LabelExpat04 || len(it.Children) != 5 {
		t.Fatalf("binder item %+v", it)
	}
	if !bytes.Equal(readHex(it.Children[3]), b.ReportData[:]) || !bytes.Equal(readHex(it.Children[1]), b.Binding) {
		t.Fatalf("binder files %v", it.Children)
	}
	for _, p := range []string{filepath.Dir(s.Dir()), s.Dir()} {
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o700 {
			t.Fatalf("%s: mode %v", p, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(filepath.Join(s.Dir(), it.Children[0])); st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", st.Mode().Perm())
	}
}

// A nil dump and a nil session record nothing and never fail.
func TestNilDump(t *testing.T) {
	var d *Dump
	s := d.Start("x", expat.Server, nil)
	s.Message(Sent, KindRequest, []byte{1}, "")
	s.Binder("", nil, nil, nil)
	s.Evidence(nil, expat.Client, nil)
	s.Proof(nil)
	if s != nil || d.Dir() != "" || s.Dir() != "" {
		t.Fatal("nil dump recorded something")
	}
}
