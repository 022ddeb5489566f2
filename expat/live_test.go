package expat

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// tlsPair returns both ends of a real TLS 1.3 connection over loopback TCP.
func tlsPair(t testing.TB) (client, server *tls.Conn) {
	t.Helper()
	key := testKey(t, "p256")
	der := selfSigned(t, key)
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvCfg := &tls.Config{
		MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13, SessionTicketsDisabled: true,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	}
	done := make(chan *tls.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- nil
			return
		}
		s := tls.Server(c, srvCfg)
		if s.Handshake() != nil {
			done <- nil
			return
		}
		done <- s
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "expat.test",
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	server = <-done
	if server == nil {
		t.Fatal("server handshake failed")
	}
	t.Cleanup(func() { c.Close(); server.Close() })
	return c, server
}

func channelOf(t testing.TB, c *tls.Conn) Channel {
	t.Helper()
	cs := c.ConnectionState()
	ch, err := ChannelFromTLS(&cs)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// frame I/O: uint32 length + payload, as an application would carry EA messages.
func send(w io.Writer, b []byte) error {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	_, err := w.Write(append(n[:], b...))
	return err
}

func recv(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	if l := binary.BigEndian.Uint32(n[:]); l > MaxAuthenticatorSize {
		return nil, ErrTooLarge.with("frame of %d bytes", l)
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	_, err := io.ReadFull(r, b)
	return b, err
}

func mustSend(t *testing.T, w io.Writer, b []byte) {
	t.Helper()
	if err := send(w, b); err != nil {
		t.Fatal(err)
	}
}

func mustRecv(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := recv(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLiveTLSBothDirections(t *testing.T) {
	cConn, sConn := tlsPair(t)
	cCh, sCh := channelOf(t, cConn), channelOf(t, sConn)
	cTrack, sTrack := NewTracker(), NewTracker()
	evidence := []byte("cmw bytes stand-in")
	clientID, serverID := testIdentity(t, "p256", evidence), testIdentity(t, "ed25519", evidence)

	// Server -> client: CertificateRequest; the client answers with an authenticator.
	sReq := mustRequest(t, Server, RequestOptions{OfferCMW: true})
	if err := sTrack.Issue(sReq.Context); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		raw, err := recv(cConn)
		var req *Request
		if err == nil {
			req, err = ParseRequest(raw, Server, 0)
		}
		if err == nil {
			err = cTrack.Answer(req.Context)
		}
		if err != nil {
			errc <- err
			return
		}
		auth, err := Authenticate(cCh, Client, req, clientID, nil)
		if err == nil {
			err = send(cConn, auth)
		}
		errc <- err
	}()
	mustSend(t, sConn, sReq.Raw)
	auth := mustRecv(t, sConn)
	if err := <-errc; err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := sTrack.Consume(sReq.Context); err != nil {
		t.Fatal(err)
	}
	got, err := Validate(sCh, Client, sReq, auth, nil)
	if err != nil {
		t.Fatalf("server validates client authenticator: %v", err)
	}
	if string(got.CMW) != string(evidence) {
		t.Fatalf("cmw %q", got.CMW)
	}

	// Replay: the same authenticator again for the same request is refused.
	wantCode(t, sTrack.Consume(sReq.Context), "context_reused")

	// Client -> server: ClientCertificateRequest; the server answers.
	cReq := mustRequest(t, Client, RequestOptions{OfferCMW: true})
	if err := cTrack.Issue(cReq.Context); err != nil {
		t.Fatal(err)
	}
	go func() {
		raw, err := recv(sConn)
		var req *Request
		if err == nil {
			req, err = ParseRequest(raw, Client, 0)
		}
		if err == nil {
			err = sTrack.Answer(req.Context)
		}
		if err != nil {
			errc <- err
			return
		}
		a, err := Authenticate(sCh, Server, req, serverID, nil)
		if err == nil {
			err = send(sConn, a)
		}
		errc <- err
	}()
	mustSend(t, cConn, cReq.Raw)
	sAuth := mustRecv(t, cConn)
	if err := <-errc; err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := cTrack.Consume(cReq.Context); err != nil {
		t.Fatal(err)
	}
	if _, err := Validate(cCh, Server, cReq, sAuth, nil); err != nil {
		t.Fatalf("client validates server authenticator: %v", err)
	}

	// The server's own context cannot be reused by the client's request (disjoint).
	wantCode(t, sTrack.Answer(sReq.Context), "context_reused")
}

// An authenticator made on one connection fails on another, even when a
// relaying attacker forwards the very request of the second connection.
func TestLiveTLSRelayFails(t *testing.T) {
	victimClient, _ := tlsPair(t)
	_, attackedServer := tlsPair(t)
	req := mustRequest(t, Server, RequestOptions{OfferCMW: true}) // made by attackedServer
	// The attacker relays req to the victim, who answers on its own connection.
	auth, err := Authenticate(channelOf(t, victimClient), Client, req, testIdentity(t, "p256", []byte("evidence")), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Validate(channelOf(t, attackedServer), Client, req, auth, nil)
	wantCode(t, err, "bad_signature")
}
