package expat

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
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

// benchHandshake measures one full TLS 1.3 handshake over loopback TCP (both
// sides, Go defaults: X25519MLKEM768, ECDSA P-256 server certificate).
func benchHandshake(b *testing.B) {
	key := testKey(b, "p256")
	der := selfSigned(b, key)
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
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
	cli := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "expat.test"}
	for b.Loop() {
		c, err := tls.Dial("tcp", ln.Addr().String(), cli)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func BenchmarkHandshake(b *testing.B) { benchHandshake(b) }

// BenchmarkRatioToHandshake reports the cost of making and of validating an
// authenticator as a fraction of a full loopback TLS 1.3 handshake, all
// measured in this one run (run with -benchtime=1x: it times its parts itself).
func BenchmarkRatioToHandshake(b *testing.B) {
	hs := testing.Benchmark(benchHandshake)
	base := float64(hs.NsPerOp())
	b.ReportMetric(base/1e3, "handshake-µs")
	for _, k := range benchKinds {
		a := testing.Benchmark(func(b *testing.B) { benchAuthenticate(b, k) })
		v := testing.Benchmark(func(b *testing.B) { benchValidate(b, k) })
		b.ReportMetric(float64(a.NsPerOp())/base, "auth-"+k+"/hs")
		b.ReportMetric(float64(v.NsPerOp())/base, "validate-"+k+"/hs")
	}
	for b.Loop() {
	}
}
