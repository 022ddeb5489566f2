package peersuite

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"

	"github.com/seatrx/seatrx/internal/capture"
	"github.com/seatrx/seatrx/internal/frame"
	"github.com/seatrx/seatrx/tlsbind"
)

// Transport says how the exported-authenticator messages travel on the
// TLS connection.
type Transport string

// Transports.
const (
	// HTTP is seatrx's HTTP API (docs/PROTOCOL.md §8): the TLS client
	// attests to the TLS server.
	HTTP Transport = "http"
	// SeatrxRaw is seatrx-raw/1 (docs/PROTOCOL.md §11), either side.
	SeatrxRaw Transport = "seatrx-raw"
	// Cocos is cocos's framing (docs/PROTOCOL.md §6.3): no verdict frames.
	Cocos Transport = "cocos"
)

// Transports lists the transports, as the CLI offers them.
func Transports() []string { return []string{string(HTTP), string(SeatrxRaw), string(Cocos)} }

func (t Transport) framing() frame.Framing {
	if t == Cocos {
		return frame.Cocos
	}
	return frame.Seatrx
}

// Default timeouts of an Endpoint.
const (
	// DefaultStepTimeout bounds the wait for the peer's next message.
	DefaultStepTimeout = 10 * time.Second
	// DefaultVerdictWait is how long, in cocos's framing (which has no
	// verdict frame), a relying party that keeps the connection open and
	// silent after an authenticator is taken to have accepted it.
	DefaultVerdictWait = 2 * time.Second
)

// Endpoint is how to reach the peer under test: dial Target, or accept on
// Listener (already listening; the caller prints its address), and how to
// secure the TLS 1.3 connection.
type Endpoint struct {
	Transport Transport
	Target    string       // HOST:PORT to dial
	Listener  net.Listener // or: accept TCP connections here
	// Dialling: the peer's certificate is verified against Roots (nil:
	// the system roots) for ServerName (default: Target's host), unless
	// Insecure, which a test peer with a throwaway certificate may need.
	Roots      *x509.CertPool
	ServerName string
	Insecure   bool
	// Listening: this side's certificate chain and key.
	Certificate tls.Certificate
	// Debugging aids (package capture); nil: off.
	KeyLog io.Writer
	Dump   *capture.Dump
	// Timeouts; zero: the defaults above.
	StepTimeout, VerdictWait time.Duration
}

func (e *Endpoint) step() time.Duration {
	if e.StepTimeout > 0 {
		return e.StepTimeout
	}
	return DefaultStepTimeout
}

func (e *Endpoint) verdictWait() time.Duration {
	if e.VerdictWait > 0 {
		return e.VerdictWait
	}
	return DefaultVerdictWait
}

func (e *Endpoint) check() error {
	switch {
	case e.Transport != HTTP && e.Transport != SeatrxRaw && e.Transport != Cocos:
		return fmt.Errorf("peersuite: unknown transport %q", e.Transport)
	case (e.Target == "") == (e.Listener == nil):
		return errors.New("peersuite: give a target to dial or a listener, not both")
	case e.Listener != nil && len(e.Certificate.Certificate) == 0:
		return errors.New("peersuite: listening needs a certificate")
	}
	return nil
}

// peer names the peer in reports.
func (e *Endpoint) peer() string {
	if e.Target != "" {
		return e.Target
	}
	return "listening on " + e.Listener.Addr().String()
}

// clientTLS is the TLS 1.3 client configuration for dialling; protos are
// the ALPN protocols offered (none for the raw framings).
func (e *Endpoint) clientTLS(protos []string) (*tls.Config, error) {
	name := e.ServerName
	if name == "" {
		host, _, err := net.SplitHostPort(e.Target)
		if err != nil {
			return nil, fmt.Errorf("peersuite: target %q: %w", e.Target, err)
		}
		name = host
	}
	cfg := tlsbind.ClientConfig(e.Roots, name)
	cfg.NextProtos = protos
	cfg.InsecureSkipVerify = e.Insecure
	cfg.KeyLogWriter = e.KeyLog
	return cfg, nil
}

// serverTLS is the TLS 1.3 server configuration for listening.
func (e *Endpoint) serverTLS(protos []string) *tls.Config {
	cfg := tlsbind.ServerConfig([]tls.Certificate{e.Certificate}, nil)
	cfg.NextProtos = protos
	cfg.KeyLogWriter = e.KeyLog
	return cfg
}

// rawConn opens the next raw-framing connection: dialled, or accepted
// (with its handshake bounded by the step timeout).
func (e *Endpoint) rawConn(ctx context.Context) (*tls.Conn, error) {
	if e.Target != "" {
		cfg, err := e.clientTLS(nil)
		if err != nil {
			return nil, err
		}
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: e.step()}, Config: cfg}
		c, err := d.DialContext(ctx, "tcp", e.Target)
		if err != nil {
			return nil, fmt.Errorf("peersuite: connect to %s: %w", e.Target, err)
		}
		return c.(*tls.Conn), nil
	}
	for {
		raw, err := acceptContext(ctx, e.Listener)
		if err != nil {
			return nil, err
		}
		tc := tls.Server(raw, e.serverTLS(nil))
		hctx, cancel := context.WithTimeout(ctx, e.step())
		err = tc.HandshakeContext(hctx)
		cancel()
		if err == nil {
			return tc, nil
		}
		raw.Close() // a failed handshake (a port probe, a TLS 1.2 peer) is not a connection to test
	}
}

// acceptContext is Accept that ctx can interrupt.
func acceptContext(ctx context.Context, ln net.Listener) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// EphemeralCertificate makes a TLS server certificate for localhost,
// 127.0.0.1 and ::1, valid for a day: issued by ca with caKey when given
// (a seatrx dev server's CA, so that its clients trust it), else
// self-signed. It returns the chain's trust anchor too, for --ca-out.
func EphemeralCertificate(ca *x509.Certificate, caKey crypto.Signer) (tls.Certificate, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "seatrx conformance peer (TEST ONLY)"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := tmpl, crypto.Signer(key)
	if ca != nil && caKey != nil {
		parent, signer = ca, caKey
	} else {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("peersuite: certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	chain := [][]byte{der}
	anchor := leaf
	if ca != nil && caKey != nil {
		chain, anchor = append(chain, ca.Raw), ca
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, anchor, nil
}
