package server_test

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"
)

// h2raw speaks just enough HTTP/2 (RFC 9113) and HPACK (RFC 7541, literals
// without Huffman coding) to send header lists that Go's client refuses to
// send, and to see how the server ends them.
type h2raw struct {
	t *testing.T
	c *tls.Conn
}

func dialH2(t *testing.T, e *env) *h2raw {
	t.Helper()
	c, err := tls.Dial("tcp", e.addr, &tls.Config{RootCAs: e.roots, MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q", p)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	h := &h2raw{t: t, c: c}
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	h.frame(0x4, 0, 0, nil) // SETTINGS, none
	return h
}

func (h *h2raw) frame(typ, flags byte, stream uint32, payload []byte) {
	hdr := make([]byte, 9)
	hdr[0], hdr[1], hdr[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	hdr[3], hdr[4] = typ, flags
	binary.BigEndian.PutUint32(hdr[5:], stream)
	if _, err := h.c.Write(append(hdr, payload...)); err != nil {
		h.t.Fatalf("write frame: %v", err)
	}
}

// hpackInt is an HPACK integer with an n-bit prefix (RFC 7541 §5.1).
func hpackInt(first byte, n uint, v int) []byte {
	max := 1<<n - 1
	if v < max {
		return []byte{first | byte(v)}
	}
	out := []byte{first | byte(max)}
	for v -= max; v >= 128; v /= 128 {
		out = append(out, byte(v%128+128))
	}
	return append(out, byte(v))
}

func hpackString(s string) []byte { return append(hpackInt(0, 7, len(s)), s...) }

// request sends GET path on stream with extra header fields, in HEADERS
// and CONTINUATION frames of at most 16 KiB.
func (h *h2raw) request(stream uint32, authority, path string, extra [][2]string) {
	block := []byte{0x82, 0x87} // :method GET, :scheme https
	block = append(append(block, hpackInt(0x00, 4, 4)...), hpackString(path)...)
	block = append(append(block, hpackInt(0x00, 4, 1)...), hpackString(authority)...)
	for _, f := range extra {
		block = append(append(append(block, 0x00), hpackString(f[0])...), hpackString(f[1])...)
	}
	const max = 16 << 10
	typ := byte(0x1) // HEADERS
	for first := true; first || len(block) > 0; first = false {
		n := min(len(block), max)
		flags := byte(0)
		if first {
			flags |= 0x1 // END_STREAM
		}
		if n == len(block) {
			flags |= 0x4 // END_HEADERS
		}
		h.frame(typ, flags, stream, block[:n])
		block, typ = block[n:], 0x9 // CONTINUATION
	}
}

// next returns the next frame that is a HEADERS frame (its stream) or a
// GOAWAY (its error code), acknowledging SETTINGS on the way.
func (h *h2raw) next() (headersOn uint32, goaway uint32, isGoaway bool) {
	for {
		hdr := make([]byte, 9)
		if _, err := io.ReadFull(h.c, hdr); err != nil {
			h.t.Fatalf("read frame: %v", err)
		}
		payload := make([]byte, int(hdr[0])<<16|int(hdr[1])<<8|int(hdr[2]))
		if _, err := io.ReadFull(h.c, payload); err != nil {
			h.t.Fatalf("read frame: %v", err)
		}
		stream := binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff
		switch hdr[3] {
		case 0x4:
			if hdr[4]&0x1 == 0 {
				h.frame(0x4, 0x1, 0, nil)
			}
		case 0x1:
			return stream, 0, false
		case 0x7:
			return 0, binary.BigEndian.Uint32(payload[4:8]), true
		}
	}
}

// What PROTOCOL.md says of HTTP/2 header lists: between the server's
// limit (16 KiB) and net/http's (64 KiB + 4 KiB, advertised as
// SETTINGS_MAX_HEADER_LIST_SIZE), the request gets the 431 problem on its
// stream and the connection serves the next request; over net/http's limit
// the connection ends, PROTOCOL_ERROR for a list of fields (net/http's
// CONTINUATION-flood defence) and COMPRESSION_ERROR for one field longer
// than the limit.
func TestEndToEndHTTP2OversizedHeaderLists(t *testing.T) {
	e := start(t, nil)
	field := strings.Repeat("a", 20<<10)
	h := dialH2(t, e)
	h.request(1, e.addr, "/healthz", [][2]string{{"x-a", field}, {"x-b", field}, {"x-c", field}})
	if stream, code, away := h.next(); away || stream != 1 {
		t.Fatalf("60 KiB of fields: GOAWAY %v (code %d), HEADERS on stream %d", away, code, stream)
	}
	h.request(3, e.addr, "/healthz", nil)
	for {
		stream, code, away := h.next()
		if away {
			t.Fatalf("the connection ended after a refused header list: GOAWAY code %d", code)
		}
		if stream == 3 {
			break
		}
	}
	for _, tc := range []struct {
		name  string
		extra [][2]string
		code  uint32
	}{
		{"80 KiB of fields", [][2]string{{"x-a", field}, {"x-b", field}, {"x-c", field}, {"x-d", field}}, 0x1},
		{"one 80 KiB field", [][2]string{{"x-a", strings.Repeat("a", 80<<10)}}, 0x9},
	} {
		h := dialH2(t, e)
		h.request(1, e.addr, "/healthz", tc.extra)
		if _, code, away := h.next(); !away || code != tc.code {
			t.Fatalf("%s: GOAWAY %v code %d, want code %d", tc.name, away, code, tc.code)
		}
	}
}
