package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/seatrx/seatrx/tlsbind"
)

// silentListener accepts TCP connections and never writes a byte.
func silentListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return ln
}

// A server that accepts TCP but never answers fails the handshake step with
// its name and duration, not a silent hang.
func TestDialHandshakeTimeout(t *testing.T) {
	ln := silentListener(t)
	_, err := Dial(context.Background(), Config{Server: "https://" + ln.Addr().String(), Prover: &tlsbind.Prover{},
		HandshakeTimeout: 150 * time.Millisecond})
	var te *TimeoutError
	if !errors.As(err, &te) || te.Step != "TLS handshake with "+ln.Addr().String() || te.After != 150*time.Millisecond {
		t.Fatalf("got %v, want a TimeoutError for the TLS handshake after 150ms", err)
	}
	if got, want := err.Error(), "client: TLS handshake with "+ln.Addr().String()+" timed out after 150ms"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}

// mute completes TLS 1.3 handshakes (ALPN as configured) and then reads
// and discards everything, answering nothing.
func mute(t *testing.T, protos []string) (net.Listener, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: protos,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return ln, roots
}

// A server that completes TLS but never answers a request fails that
// request, named, after RequestTimeout: over HTTP/2 and HTTP/1.1.
func TestRequestTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		protos []string
		force1 bool
	}{{"h2", []string{"h2"}, false}, {"http/1.1", []string{"http/1.1"}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, roots := mute(t, tc.protos)
			c, err := Dial(context.Background(), Config{Server: "https://" + ln.Addr().String(), Roots: roots,
				Prover: &tlsbind.Prover{}, ForceHTTP1: tc.force1, RequestTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Capabilities(context.Background())
			var te *TimeoutError
			if !errors.As(err, &te) || te.Step != "request GET /.well-known/seatrx" || te.After != 200*time.Millisecond {
				t.Fatalf("got %v, want a TimeoutError for the request after 200ms", err)
			}
		})
	}
}
