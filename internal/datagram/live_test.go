package datagram

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/dtls/v4"
	"github.com/pion/dtls/v4/pkg/protocol"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/frame"
)

func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "seatrx.test"}, DNSNames: []string{"seatrx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// pair runs one handshake over loopback UDP; either side's error is returned.
func pair(t *testing.T, sopts []dtls.ServerOption, copts []dtls.ClientOption) (*dtls.Conn, *dtls.Conn, error) {
	t.Helper()
	ln, err := dtls.ListenAddr("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, sopts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type res struct {
		c   *dtls.Conn
		err error
	}
	sc := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sc <- res{nil, err}
			return
		}
		d := c.(*dtls.Conn)
		sc <- res{d, d.HandshakeContext(ctx)}
	}()
	cc, err := dtls.Dial("udp", ln.Addr().(*net.UDPAddr), copts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	cerr := cc.HandshakeContext(ctx)
	if cerr != nil {
		cc.Close() // the server side stops waiting
		return nil, nil, cerr
	}
	s := <-sc
	if s.c != nil {
		t.Cleanup(func() { s.c.Close() })
	}
	return s.c, cc, s.err
}

// The adapter's exporter is pion's DTLS 1.3 exporter, and expat's offline
// exporter with the DTLS prefix computes the same values from the key
// log's exporter_master_secret: the derivation is RFC 8446's with
// "dtls13" labels, and differs from TLS 1.3's for the same secret.
func TestChannelExporterMatchesOffline(t *testing.T) {
	cert, roots := testCert(t)
	var kl syncBuf
	sc, cc, err := pair(t, ServerOptions([]tls.Certificate{cert}, nil), ClientOptions(roots, "seatrx.test", &kl))
	if err != nil {
		t.Fatal(err)
	}
	sst, _ := sc.ConnectionState()
	cst, _ := cc.ConnectionState()
	sch, err := Channel(sst)
	if err != nil {
		t.Fatal(err)
	}
	cch, err := Channel(cst)
	if err != nil {
		t.Fatal(err)
	}
	var secret []byte
	for _, line := range strings.Split(kl.String(), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "EXPORTER_SECRET" {
			secret, _ = hex.DecodeString(f[2])
		}
	}
	if secret == nil {
		t.Fatalf("no EXPORTER_SECRET in the key log:\n%s", kl.String())
	}
	off, err := expat.NewOfflineDTLSChannel(cch.Suite, secret)
	if err != nil {
		t.Fatal(err)
	}
	tlsOff, _ := expat.NewOfflineChannel(cch.Suite, secret)
	ctx := bytes.Repeat([]byte{0xc1}, 32)
	for _, label := range []string{"EXPORTER-cmw-attestation", "EXPORTER-client authenticator handshake context", "EXPORTER-server authenticator finished key"} {
		a, err := sch.Export(label, ctx, 32)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := cch.Export(label, ctx, 32)
		o, _ := off.Export(label, ctx, 32)
		x, _ := tlsOff.Export(label, ctx, 32)
		if !bytes.Equal(a, b) || !bytes.Equal(a, o) {
			t.Fatalf("%s: server %x, client %x, offline %x", label, a, b, o)
		}
		if bytes.Equal(a, x) {
			t.Fatalf("%s: the TLS 1.3 derivation gave the DTLS value", label)
		}
	}
}

// seatrx's options refuse a DTLS 1.2 peer in the handshake; and a DTLS 1.2
// connection made elsewhere is refused by the adapter (not_dtls13).
func TestDTLS12Refused(t *testing.T) {
	cert, roots := testCert(t)
	v12 := []dtls.ClientOption{dtls.WithMinVersion(protocol.Version1_2), dtls.WithMaxVersion(protocol.Version1_2), dtls.WithRootCAs(roots), dtls.WithServerName("seatrx.test")}
	if _, _, err := pair(t, ServerOptions([]tls.Certificate{cert}, nil), v12); err == nil {
		t.Fatal("seatrx's server options completed a DTLS 1.2 handshake")
	}
	sc, cc, err := pair(t, []dtls.ServerOption{dtls.WithCertificates(cert), dtls.WithMaxVersion(protocol.Version1_2)}, v12)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*dtls.Conn{sc, cc} {
		st, _ := c.ConnectionState()
		_, err := Channel(st)
		var de *Error
		if !errors.As(err, &de) || de.ProblemCode() != "dtls.not_dtls13" {
			t.Fatalf("DTLS 1.2 connection: got %v, want dtls.not_dtls13", err)
		}
	}
	// seatrx's client refuses a DTLS 1.2-only server in the handshake.
	if _, _, err := pair(t, []dtls.ServerOption{dtls.WithCertificates(cert), dtls.WithMaxVersion(protocol.Version1_2)}, ClientOptions(roots, "seatrx.test", nil)); err == nil {
		t.Fatal("seatrx's client options completed a DTLS 1.2 handshake")
	}
}

// Frames travel over a real DTLS 1.3 connection, large ones fragmented to
// fit the MTU.
func TestFramesOverDTLS(t *testing.T) {
	cert, roots := testCert(t)
	sc, cc, err := pair(t, ServerOptions([]tls.Certificate{cert}, nil), ClientOptions(roots, "seatrx.test", nil))
	if err != nil {
		t.Fatal(err)
	}
	a, b := New(cc, frame.SeatrxIssue, fast), New(sc, frame.SeatrxIssue, fast)
	defer a.Close()
	defer b.Close()
	exchange(t, a, b, payload(150<<10, 9), payload(3000, 8))
}
