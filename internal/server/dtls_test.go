package server_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/dtls/v4"
	"github.com/pion/dtls/v4/pkg/protocol"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/datagram"
	"github.com/seatrx/seatrx/internal/frame"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
	"github.com/seatrx/seatrx/verify"
)

// fastUDP retransmits quickly, so that a lost datagram costs little test
// time, and bounds each step to a few seconds.
var fastUDP = datagram.Config{InitialRTO: 50 * time.Millisecond, MaxRTO: 200 * time.Millisecond, StepTimeout: 5 * time.Second}

func startDTLS(t *testing.T) *env {
	return start(t, func(c *server.Config) { c.DTLSAddr = "127.0.0.1:0"; c.DTLSTransport = fastUDP })
}

func (e *env) dialDTLS(t *testing.T, addr string, p *tlsbind.Prover, tr datagram.Config) *client.DTLSConn {
	t.Helper()
	c, err := client.DialDTLS(context.Background(), client.DTLSConfig{Addr: addr, ServerName: "localhost", Roots: e.roots, Prover: p, Transport: tr})
	if err != nil {
		t.Fatalf("dial DTLS: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// checkDTLSReceipt verifies a receipt issued over DTLS and checks that its
// snapshot names the transport and version.
func (e *env) checkDTLSReceipt(t *testing.T, rr *api.ReceiptResponse, proof *tlsbind.Proof, requested any) {
	t.Helper()
	ctx := context.Background()
	keys, _, err := e.dial(t, e.snp(sim.SNPGuestConfig{})).Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Bundle(rr.Bundle, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: e.pki})
	if err != nil || !rep.OK {
		t.Fatalf("receipt issued over DTLS does not verify: %v", err)
	}
	if err := client.CheckOwnReceipt(rep.Action, proof, requested); err != nil {
		t.Fatal(err)
	}
	b := mustBundle(t, rr.Bundle)
	r, err := receipt.ParseReceipt(b.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	s := r.ContextSnapshot
	if s == nil || s.Transport != receipt.TransportDTLS || s.TLSVersion != 0xfefc || s.SNI != "localhost" || s.CipherSuite == 0 {
		t.Fatalf("snapshot %+v: want transport dtls, version 0xfefc, SNI localhost", s)
	}
}

// SEV-SNP and TDX (simulated) attest over DTLS 1.3 and get a receipt, as
// over HTTPS: same store, same verification; the attestation-only path
// gets the EAR.
func TestDTLSAttestAndIssue(t *testing.T) {
	e := startDTLS(t)
	addr := e.srv.DTLSAddr().String()
	ctx := context.Background()
	for _, p := range []*tlsbind.Prover{e.snp(sim.SNPGuestConfig{}), e.tdx(sim.TDXGuestConfig{})} {
		c := e.dialDTLS(t, addr, p, fastUDP)
		req := map[string]any{"op": "deploy", "via": "dtls"}
		ear, rr, err := c.AttestAndIssue(ctx, req, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(ear) == 0 {
			t.Fatal("no EAR")
		}
		e.checkDTLSReceipt(t, rr, c.LastProof(), req)
	}
	c := e.dialDTLS(t, addr, e.tdx(sim.TDXGuestConfig{}), fastUDP)
	if ear, err := c.Attest(ctx); err != nil || len(ear) == 0 {
		t.Fatalf("attest alone: %v", err)
	}
	if u, r := e.rows(t, "used_contexts"), e.rows(t, "receipts"); u != 3 || r != 2 {
		t.Fatalf("%d used contexts, %d receipts; want 3 and 2", u, r)
	}
}

// An authenticator made on one DTLS connection for another's request is
// refused on that other one (its signature covers the wrong exporter).
func TestDTLSRelayedAuthenticatorRefused(t *testing.T) {
	e := startDTLS(t)
	addr := e.srv.DTLSAddr().String()
	ctx := context.Background()
	p := e.snp(sim.SNPGuestConfig{})
	a, b := e.dialDTLS(t, addr, p, fastUDP), e.dialDTLS(t, addr, p, fastUDP)
	reqB, err := b.Challenge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Challenge(ctx); err != nil {
		t.Fatal(err)
	}
	// The honest attester answers B's request, but on connection A.
	proof, err := a.Respond(ctx, p, reqB)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.SendAuthenticator(ctx, proof.Authenticator)
	wantProblem(t, err, "expat.bad_signature")
	if n := e.rows(t, "used_contexts"); n != 0 {
		t.Fatalf("%d attestations recorded after a relay", n)
	}
}

// A DTLS 1.2 client fails the handshake; the listener goes on serving.
func TestDTLS12Refused(t *testing.T) {
	e := startDTLS(t)
	addr := e.srv.DTLSAddr().(*net.UDPAddr)
	dc, err := dtls.Dial("udp", addr, dtls.WithMinVersion(protocol.Version1_2), dtls.WithMaxVersion(protocol.Version1_2),
		dtls.WithRootCAs(e.roots), dtls.WithServerName("localhost"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dc.HandshakeContext(ctx); err == nil {
		t.Fatal("the server completed a DTLS 1.2 handshake")
	}
	dc.Close()
	c := e.dialDTLS(t, addr.String(), e.snp(sim.SNPGuestConfig{}), fastUDP)
	if _, _, err := c.AttestAndIssue(context.Background(), map[string]any{"op": "after"}, ""); err != nil {
		t.Fatal(err)
	}
}

// proxy is a UDP relay between one client and the server whose filter
// sees every datagram (dir 0: client to server, n counts per direction)
// and returns what to forward now: it drops, holds and reorders.
type proxy struct {
	ln     *net.UDPConn
	up     *net.UDPConn
	mu     sync.Mutex
	client *net.UDPAddr
	n      [2]int
	filter func(dir, n int, pkt []byte) [][]byte
}

func startProxy(t *testing.T, server *net.UDPAddr, filter func(dir, n int, pkt []byte) [][]byte) *proxy {
	t.Helper()
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.DialUDP("udp", nil, server)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, up: up, filter: filter}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // client to server
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := ln.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.client = from
			out := p.pass(0, buf[:n])
			p.mu.Unlock()
			for _, d := range out {
				up.Write(d)
			}
		}
	}()
	go func() { // server to client
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			to := p.client
			out := p.pass(1, buf[:n])
			p.mu.Unlock()
			for _, d := range out {
				ln.WriteToUDP(d, to)
			}
		}
	}()
	t.Cleanup(func() { ln.Close(); up.Close(); wg.Wait() })
	return p
}

// appData reports whether a datagram starts with a DTLS 1.3 record of the
// application epoch: a unified header (RFC 9147 §4: 001CSLEE) whose epoch
// bits are 3. The handshake's records are plaintext (epoch 0) or epoch 2.
func appData(pkt []byte) bool {
	return len(pkt) > 0 && pkt[0]&0xe0 == 0x20 && pkt[0]&0x03 == 3
}

func (p *proxy) pass(dir int, pkt []byte) [][]byte {
	d := append([]byte(nil), pkt...)
	n := p.n[dir]
	p.n[dir]++
	if p.filter == nil {
		return [][]byte{d}
	}
	return p.filter(dir, n, d)
}

// The exchange survives a lost and a reordered datagram (retransmission
// and reassembly by offset); a path that goes silent after the handshake
// ends in the named timeout, never a hang.
func TestDTLSLossyPath(t *testing.T) {
	e := startDTLS(t)
	srv := e.srv.DTLSAddr().(*net.UDPAddr)
	ctx := context.Background()

	t.Run("dropped and reordered", func(t *testing.T) {
		// Client-to-server application records of 900 bytes or more are
		// fragments of the attest-issue message: drop the second, and
		// swap the fourth and fifth. Drop the server's first application
		// record after the client's first big one (its request frame went
		// earlier, so this is an acknowledgement or the answer).
		big, dropped := 0, 0
		var held []byte
		bigSeen, answerDropped := false, false
		p := startProxy(t, srv, func(dir, n int, pkt []byte) [][]byte {
			if !appData(pkt) {
				return [][]byte{pkt}
			}
			if dir == 1 {
				if bigSeen && !answerDropped {
					answerDropped = true
					dropped++
					return nil
				}
				return [][]byte{pkt}
			}
			if len(pkt) < 900 {
				return [][]byte{pkt}
			}
			big++
			bigSeen = true
			switch big {
			case 2:
				dropped++
				return nil
			case 4:
				held = pkt
				return nil
			case 5:
				return [][]byte{pkt, held}
			}
			return [][]byte{pkt}
		})
		c := e.dialDTLS(t, p.ln.LocalAddr().String(), e.tdx(sim.TDXGuestConfig{}), fastUDP)
		req := map[string]any{"op": "lossy"}
		_, rr, err := c.AttestAndIssue(ctx, req, "")
		if err != nil {
			var de *datagram.Error
			if errors.As(err, &de) && de.Code == datagram.CodeTimeout {
				t.Skipf("the lossy exchange timed out with its named code (allowed): %v", err)
			}
			t.Fatal(err)
		}
		e.checkDTLSReceipt(t, rr, c.LastProof(), req)
		p.mu.Lock()
		defer p.mu.Unlock()
		if dropped < 2 || big < 5 {
			t.Fatalf("the proxy dropped %d datagrams and saw %d large ones: the test lost its point", dropped, big)
		}
		if c.Stats().Retransmitted == 0 {
			t.Fatalf("the client never retransmitted although its fragment was dropped")
		}
	})

	t.Run("silent after the handshake", func(t *testing.T) {
		// Forward the handshake (until the client's Finished), then
		// nothing: the client must give up with dtls.timeout.
		var cut bool
		var mu sync.Mutex
		p := startProxy(t, srv, func(dir, n int, pkt []byte) [][]byte {
			mu.Lock()
			defer mu.Unlock()
			if cut {
				return nil
			}
			return [][]byte{pkt}
		})
		c := e.dialDTLS(t, p.ln.LocalAddr().String(), e.snp(sim.SNPGuestConfig{}), datagram.Config{InitialRTO: 50 * time.Millisecond, StepTimeout: 500 * time.Millisecond})
		mu.Lock()
		cut = true
		mu.Unlock()
		start := time.Now()
		_, _, err := c.AttestAndIssue(ctx, map[string]any{"op": "silent"}, "")
		var de *datagram.Error
		if !errors.As(err, &de) || de.ProblemCode() != "dtls.timeout" {
			t.Fatalf("got %v, want dtls.timeout", err)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("the timeout took %s", d)
		}
	})
}

// A fragment declaring a message over the framing's largest is refused
// with dtls.too_large before anything is assembled, and the server says so
// in an error frame.
func TestDTLSOversizedRefused(t *testing.T) {
	e := startDTLS(t)
	addr := e.srv.DTLSAddr().(*net.UDPAddr)
	dc, err := dtls.Dial("udp", addr, datagram.ClientOptions(e.roots, "localhost", nil)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dc.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	tc := datagram.New(dc, frame.SeatrxIssue, fastUDP)
	defer tc.Close()
	if f, err := tc.ReadFrame(ctx); err != nil || f.Type != frame.TypeRequest {
		t.Fatalf("first frame: %v %v", f.Type, err)
	}
	rec := make([]byte, 13+300)
	rec[0] = 1 // fragment of our message 0
	binary.BigEndian.PutUint32(rec[5:], frame.MaxIssued+frame.HeaderSize+1)
	rec[13] = byte(frame.TypeAttestIssue)
	binary.BigEndian.PutUint32(rec[14:], frame.MaxIssued+1)
	if _, err := dc.Write(rec); err != nil {
		t.Fatal(err)
	}
	f, err := tc.ReadFrame(ctx)
	if err != nil || f.Type != frame.TypeError {
		t.Fatalf("got a %s frame, %v; want an error frame", f.Type, err)
	}
	wantProblem(t, frameProblem(t, f.Payload), "dtls.too_large")
	// And the client refuses to send an oversized frame at all.
	c := e.dialDTLS(t, addr.String(), e.snp(sim.SNPGuestConfig{}), fastUDP)
	if _, err := c.Challenge(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err = c.SendAuthenticator(context.Background(), make([]byte, frame.MaxAuthenticator+1))
	var fe *frame.Error
	if !errors.As(err, &fe) || fe.Code != frame.CodeTooLarge {
		t.Fatalf("got %v, want frame.too_large", err)
	}
}

func frameProblem(t *testing.T, b []byte) error {
	t.Helper()
	var p api.Problem
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("error frame %q is not a problem: %v", b, err)
	}
	return &p
}

// rawDTLS opens a DTLS 1.3 connection with seatrx's client options and
// reads the server's request frame; the test then sends what it likes.
func rawDTLS(t *testing.T, e *env) (*dtls.Conn, *datagram.Conn) {
	t.Helper()
	dc, err := dtls.Dial("udp", e.srv.DTLSAddr().(*net.UDPAddr), datagram.ClientOptions(e.roots, "localhost", nil)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dc.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	tc := datagram.New(dc, frame.SeatrxIssue, fastUDP)
	t.Cleanup(func() { tc.Close() })
	if f, err := tc.ReadFrame(ctx); err != nil || f.Type != frame.TypeRequest {
		t.Fatalf("first frame: %v %v", f.Type, err)
	}
	return dc, tc
}

// Hostile frames and records from an attester get an error frame naming
// the rule, and nothing is recorded.
func TestDTLSHostileFrames(t *testing.T) {
	e := startDTLS(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		send func(dc *dtls.Conn, c *datagram.Conn) error
		code string
	}{
		{"a request to the relying party", func(_ *dtls.Conn, c *datagram.Conn) error {
			return c.WriteFrame(ctx, frame.TypeRequest, []byte{13, 0, 0, 1, 0})
		}, "frame.unexpected_type"},
		{"a result from the attester", func(_ *dtls.Conn, c *datagram.Conn) error { return c.WriteFrame(ctx, frame.TypeResult, []byte("x")) }, "frame.unexpected_type"},
		{"attest-issue not CBOR", func(_ *dtls.Conn, c *datagram.Conn) error {
			return c.WriteFrame(ctx, frame.TypeAttestIssue, []byte{0xff})
		}, "server.bad_attest_issue_request"},
		{"authenticator garbage", func(_ *dtls.Conn, c *datagram.Conn) error {
			return c.WriteFrame(ctx, frame.TypeAuthenticator, []byte{11, 0, 0, 1, 0})
		}, "expat.unexpected_message"},
		{"unknown record kind", func(dc *dtls.Conn, _ *datagram.Conn) error { _, err := dc.Write([]byte{9, 0, 0, 0, 0}); return err }, "dtls.malformed"},
		{"unknown frame type", func(dc *dtls.Conn, _ *datagram.Conn) error {
			_, err := dc.Write([]byte{1, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0x7f, 0, 0, 0, 1, 0})
			return err
		}, "dtls.malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dc, c := rawDTLS(t, e)
			if err := tc.send(dc, c); err != nil {
				t.Fatal(err)
			}
			f, err := c.ReadFrame(ctx)
			if err != nil || f.Type != frame.TypeError {
				t.Fatalf("got a %s frame, %v; want an error frame", f.Type, err)
			}
			wantProblem(t, frameProblem(t, f.Payload), tc.code)
		})
	}
	if n := e.rows(t, "used_contexts"); n != 0 {
		t.Fatalf("%d attestations recorded from hostile frames", n)
	}
}

// A connection past the un-attested bounds, in total or from one address,
// is closed before its handshake.
func TestDTLSConnectionLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bound func(*server.Config)
	}{
		{"total", func(c *server.Config) { c.MaxUnattestedConns = 1 }},
		{"per address", func(c *server.Config) { c.MaxUnattestedPerAddr = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, func(c *server.Config) {
				c.DTLSAddr = "127.0.0.1:0"
				c.DTLSTransport = fastUDP
				tc.bound(c)
			})
			rawDTLS(t, e) // holds the one slot: it never answers
			_, err := client.DialDTLS(context.Background(), client.DTLSConfig{Addr: e.srv.DTLSAddr().String(), ServerName: "localhost", Roots: e.roots,
				Prover: e.snp(sim.SNPGuestConfig{}), HandshakeTimeout: time.Second})
			if err == nil {
				t.Fatalf("a DTLS connection past a bound of 1 (%s) completed its handshake", tc.name)
			}
		})
	}
}

// A DTLS peer that completes its handshake and then sends nothing is
// closed at the attestation deadline, not at the end of the transport's
// step time (a minute here; the client's own steps end after 5 s, so it
// sees the close only if the deadline made it); enough of them penalize
// their address, whose next connection gets no handshake.
func TestDTLSDeadline(t *testing.T) {
	e := start(t, func(c *server.Config) {
		c.DTLSAddr = "127.0.0.1:0"
		c.DTLSTransport = fastUDP
		c.DTLSTransport.StepTimeout = time.Minute
		c.UnattestedTimeout = 2 * time.Second
	})
	var idle []*datagram.Conn
	for range 12 {
		_, tc := rawDTLS(t, e)
		idle = append(idle, tc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, tc := range idle {
		f, err := tc.ReadFrame(ctx)
		var de *datagram.Error
		if err == nil || !errors.As(err, &de) || de.Code != datagram.CodeClosed {
			t.Fatalf("idle DTLS connection %d: got a %s frame, %v; want closed by the server", i, f.Type, err)
		}
	}
	_, err := client.DialDTLS(ctx, client.DTLSConfig{Addr: e.srv.DTLSAddr().String(), ServerName: "localhost", Roots: e.roots,
		Prover: e.snp(sim.SNPGuestConfig{}), HandshakeTimeout: time.Second})
	if err == nil {
		t.Fatal("a DTLS connection from an address whose 12 connections ran into the deadline completed its handshake")
	}
}
