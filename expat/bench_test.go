package expat

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"
)

var benchKinds = []string{"ed25519", "p256", "p384", "rsa"}

func benchAuthenticate(b *testing.B, kind string) {
	ch := testChannel(b, 1)
	req := mustRequest(b, Server, RequestOptions{OfferCMW: true})
	id := testIdentity(b, kind, make([]byte, 6000)) // about an SNP report + cert table
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Authenticate(ch, Client, req, id, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func benchValidate(b *testing.B, kind string) {
	ch := testChannel(b, 1)
	req := mustRequest(b, Server, RequestOptions{OfferCMW: true})
	auth, err := Authenticate(ch, Client, req, testIdentity(b, kind, make([]byte, 6000)), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate(ch, Client, req, auth, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	for _, k := range benchKinds {
		b.Run(k, func(b *testing.B) { benchAuthenticate(b, k) })
	}
}

func BenchmarkValidate(b *testing.B) {
	for _, k := range benchKinds {
		b.Run(k, func(b *testing.B) { benchValidate(b, k) })
	}
}

// loopbackTLS starts a TLS 1.3 server on loopback that completes handshakes
// and closes; it returns the address and a client configuration for it.
func loopbackTLS(b *testing.B) (string, *tls.Config) {
	key := testKey(b, "p256")
	der := selfSigned(b, key)
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	srv := &tls.Config{MinVersion: tls.VersionTLS13, SessionTicketsDisabled: true,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				s := tls.Server(c, srv)
				s.Handshake()
				s.Close()
			}()
		}
	}()
	return ln.Addr().String(), &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "expat.test"}
}

// benchHandshake measures one full TLS 1.3 handshake over loopback TCP (both
// sides, Go defaults: X25519MLKEM768, ECDSA P-256 server certificate).
func benchHandshake(b *testing.B) {
	addr, cli := loopbackTLS(b)
	for b.Loop() {
		c, err := tls.Dial("tcp", addr, cli)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func BenchmarkHandshake(b *testing.B) { benchHandshake(b) }

// BenchmarkRatioToHandshake reports the cost of making and of validating an
// authenticator (6 KB cmw_attestation payload) per scheme as a ratio to one
// full TLS 1.3 handshake over loopback, all timed in the same loop so that
// machine load affects both alike. (testing.Benchmark cannot be nested in a
// benchmark: it would deadlock on the benchmark lock.)
func BenchmarkRatioToHandshake(b *testing.B) {
	addr, cli := loopbackTLS(b)
	var err error
	ch := testChannel(b, 1)
	req := mustRequest(b, Server, RequestOptions{OfferCMW: true})
	ids := map[string]*Identity{}
	auths := map[string][]byte{}
	for _, k := range benchKinds {
		ids[k] = testIdentity(b, k, make([]byte, 6000))
		if auths[k], err = Authenticate(ch, Client, req, ids[k], nil); err != nil {
			b.Fatal(err)
		}
	}
	var hs time.Duration
	auth := map[string]time.Duration{}
	val := map[string]time.Duration{}
	n := 0
	for b.Loop() {
		t := time.Now()
		c, err := tls.Dial("tcp", addr, cli)
		if err != nil {
			b.Fatal(err)
		}
		hs += time.Since(t)
		c.Close()
		for _, k := range benchKinds {
			t = time.Now()
			if _, err := Authenticate(ch, Client, req, ids[k], nil); err != nil {
				b.Fatal(err)
			}
			auth[k] += time.Since(t)
			t = time.Now()
			if _, err := Validate(ch, Client, req, auths[k], nil); err != nil {
				b.Fatal(err)
			}
			val[k] += time.Since(t)
		}
		n++
	}
	b.ReportMetric(float64(hs.Microseconds())/float64(n), "handshake-µs")
	for _, k := range benchKinds {
		b.ReportMetric(float64(auth[k])/float64(hs), "auth-"+k+"/hs")
		b.ReportMetric(float64(val[k])/float64(hs), "validate-"+k+"/hs")
	}
}
