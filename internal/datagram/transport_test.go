package datagram

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/seatrx/seatrx/internal/frame"
)

// link is an in-memory record path between two endpoints; filter sees
// every record (direction 0: a to b) and decides what is delivered.
type link struct {
	mu     sync.Mutex
	filter func(dir int, n int, rec []byte) [][]byte // records to deliver now
	count  [2]int
}

type endpoint struct {
	l      *link
	dir    int
	in     chan []byte
	peer   *endpoint
	closed chan struct{}
	once   sync.Once
}

func newLink(filter func(dir, n int, rec []byte) [][]byte) (*endpoint, *endpoint) {
	l := &link{filter: filter}
	a := &endpoint{l: l, dir: 0, in: make(chan []byte, 4096), closed: make(chan struct{})}
	b := &endpoint{l: l, dir: 1, in: make(chan []byte, 4096), closed: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

func (e *endpoint) Write(p []byte) (int, error) {
	select {
	case <-e.closed:
		return 0, io.ErrClosedPipe
	default:
	}
	rec := bytes.Clone(p)
	e.l.mu.Lock()
	n := e.l.count[e.dir]
	e.l.count[e.dir]++
	out := [][]byte{rec}
	if e.l.filter != nil {
		out = e.l.filter(e.dir, n, rec)
	}
	e.l.mu.Unlock()
	for _, r := range out {
		select {
		case e.peer.in <- r:
		default: // a full queue drops, as UDP does
		}
	}
	return len(p), nil
}

func (e *endpoint) Read(p []byte) (int, error) {
	select {
	case r := <-e.in:
		return copy(p, r), nil
	case <-e.closed:
		return 0, io.EOF
	}
}

func (e *endpoint) Close() error { e.once.Do(func() { close(e.closed) }); return nil }

var fast = Config{InitialRTO: 20 * time.Millisecond, MaxRTO: 80 * time.Millisecond, StepTimeout: 5 * time.Second}

// exchange sends a frame a to b and the answer back, and checks both arrive intact.
func exchange(t *testing.T, ca, cb *Conn, req, ans []byte) {
	t.Helper()
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() {
		f, err := cb.ReadFrame(ctx)
		if err == nil && !bytes.Equal(f.Payload, req) {
			err = errors.New("b got another request")
		}
		if err == nil {
			err = cb.WriteFrame(ctx, frame.TypeIssued, ans)
		}
		if err == nil {
			err = cb.Flush(ctx)
		}
		errc <- err
	}()
	if err := ca.WriteFrame(ctx, frame.TypeAttestIssue, req); err != nil {
		t.Fatal(err)
	}
	f, err := ca.ReadFrame(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != frame.TypeIssued || !bytes.Equal(f.Payload, ans) {
		t.Fatalf("a got a %s frame of %d bytes, want the answer of %d", f.Type, len(f.Payload), len(ans))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func TestExchangeOverLossyPaths(t *testing.T) {
	drop := func(which map[[2]int]bool) func(dir, n int, rec []byte) [][]byte {
		return func(dir, n int, rec []byte) [][]byte {
			if which[[2]int{dir, n}] {
				return nil
			}
			return [][]byte{rec}
		}
	}
	var held []byte
	tests := []struct {
		name   string
		filter func(dir, n int, rec []byte) [][]byte
		retx   bool // a retransmission must have happened
	}{
		{"clean", nil, false},
		{"first fragment lost", drop(map[[2]int]bool{{0, 0}: true}), true},
		{"middle fragment lost", drop(map[[2]int]bool{{0, 5}: true}), true},
		{"acknowledgement lost", drop(map[[2]int]bool{{1, 0}: true}), true},
		{"answer fragment lost", drop(map[[2]int]bool{{1, 2}: true}), true},
		{"every fragment once lost", func(dir, n int, rec []byte) [][]byte {
			if dir == 0 && n < 250 && n%2 == 0 {
				return nil
			}
			return [][]byte{rec}
		}, true},
		{"reordered", func(dir, n int, rec []byte) [][]byte {
			if dir == 0 && n == 3 {
				held = rec
				return nil
			}
			if dir == 0 && n == 6 {
				return [][]byte{rec, held}
			}
			return [][]byte{rec}
		}, false},
		{"duplicated", func(dir, n int, rec []byte) [][]byte { return [][]byte{rec, rec} }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newLink(tc.filter)
			ca, cb := New(a, frame.SeatrxIssue, fast), New(b, frame.SeatrxIssue, fast)
			defer ca.Close()
			defer cb.Close()
			exchange(t, ca, cb, payload(200<<10, 1), payload(5000, 2))
			exchange(t, ca, cb, payload(10, 3), payload(1, 4)) // a second round on the same connection
			st := ca.Stats().Retransmitted + cb.Stats().Retransmitted
			if tc.retx && st == 0 {
				t.Fatalf("no retransmission although a record was lost")
			}
		})
	}
}

func TestSilentPathTimesOut(t *testing.T) {
	a, b := newLink(func(int, int, []byte) [][]byte { return nil })
	cfg := fast
	cfg.StepTimeout = 200 * time.Millisecond
	ca := New(a, frame.SeatrxIssue, cfg)
	defer ca.Close()
	defer b.Close()
	if err := ca.WriteFrame(context.Background(), frame.TypeRequest, []byte{1}); err != nil {
		t.Fatal(err)
	}
	_, err := ca.ReadFrame(context.Background())
	var de *Error
	if !errors.As(err, &de) || de.ProblemCode() != "dtls.timeout" {
		t.Fatalf("got %v, want dtls.timeout", err)
	}
	if ca.Stats().Retransmitted == 0 {
		t.Fatalf("the request was never retransmitted")
	}
	if _, err2 := ca.ReadFrame(context.Background()); err2 != err {
		t.Fatalf("a failed connection must stay failed: %v", err2)
	}
}

func TestPeerCloseIsNamed(t *testing.T) {
	a, b := newLink(nil)
	ca := New(a, frame.SeatrxIssue, fast)
	defer ca.Close()
	a.Close() // our side's reader sees EOF, as after a close_notify
	_, err := ca.ReadFrame(context.Background())
	var de *Error
	if !errors.As(err, &de) || de.Code != CodeClosed {
		t.Fatalf("got %v, want dtls.closed", err)
	}
	b.Close()
}

func TestOversizedRefusedBySender(t *testing.T) {
	a, b := newLink(nil)
	ca := New(a, frame.SeatrxIssue, fast)
	defer ca.Close()
	defer b.Close()
	for _, tc := range []struct {
		t frame.Type
		n int
	}{{frame.TypeRequest, frame.MaxRequest + 1}, {frame.TypeAuthenticator, frame.MaxAuthenticator + 1}, {frame.TypeAttestIssue, frame.MaxAttestIssue + 1}, {frame.TypeIssued, frame.MaxIssued + 1}} {
		err := ca.WriteFrame(context.Background(), tc.t, make([]byte, tc.n))
		var fe *frame.Error
		if !errors.As(err, &fe) || fe.Code != frame.CodeTooLarge {
			t.Errorf("%s of %d bytes: got %v, want frame.too_large", tc.t, tc.n, err)
		}
	}
	if ca.Stats().Sent != 0 {
		t.Fatalf("an oversized message was sent")
	}
}

func frag(seq, total, off uint32, data []byte) []byte {
	r := make([]byte, FragmentHeader)
	r[0] = kindFragment
	binary.BigEndian.PutUint32(r[1:], seq)
	binary.BigEndian.PutUint32(r[5:], total)
	binary.BigEndian.PutUint32(r[9:], off)
	return append(r, data...)
}

func hdr(t frame.Type, n uint32) []byte {
	h := []byte{byte(t), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[1:], n)
	return h
}

// Malformed records from the peer are refused with the code naming the rule.
func TestMalformedRecords(t *testing.T) {
	big := append(hdr(frame.TypeAuthenticator, 2000), make([]byte, 300)...)
	tests := []struct {
		name string
		recs [][]byte
		code Code
	}{
		{"empty record", [][]byte{{}}, CodeMalformed},
		{"unknown kind", [][]byte{{9, 0, 0, 0, 0}}, CodeMalformed},
		{"short acknowledgement", [][]byte{{kindAck, 0, 0}}, CodeMalformed},
		{"fragment without data", [][]byte{frag(0, 10, 0, nil)}, CodeMalformed},
		{"declared total over every limit", [][]byte{frag(0, frame.MaxIssued+frame.HeaderSize+1, 0, big)}, CodeTooLarge},
		{"frame over its type's limit", [][]byte{frag(0, frame.MaxRequest+frame.HeaderSize+1, 0, append(hdr(frame.TypeRequest, frame.MaxRequest+1), make([]byte, 300)...))}, CodeTooLarge},
		{"frame header disagrees with total", [][]byte{frag(0, 3000, 0, big)}, CodeMalformed},
		{"unknown frame type", [][]byte{frag(0, 2005, 0, append(hdr(0x7f, 2000), make([]byte, 300)...))}, CodeMalformed},
		{"fragment past the end", [][]byte{frag(0, 2005, 1900, make([]byte, 300))}, CodeMalformed},
		{"tiny fragment not last", [][]byte{frag(0, 2005, 0, big[:10])}, CodeMalformed},
		{"total changes", [][]byte{frag(0, 2005, 0, big), frag(0, 2006, 1000, make([]byte, 300))}, CodeMalformed},
		{"overlap", [][]byte{frag(0, 2005, 0, big), frag(0, 2005, 100, make([]byte, 300))}, CodeMalformed},
		{"total below a header", [][]byte{frag(0, 3, 0, []byte{1, 2, 3})}, CodeMalformed},
		{"record too large", [][]byte{make([]byte, MaxRecord+1)}, CodeMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newLink(nil)
			cfg := fast
			cfg.StepTimeout = time.Second
			ca := New(a, frame.SeatrxIssue, cfg)
			defer ca.Close()
			defer b.Close()
			for _, r := range tc.recs {
				b.Write(r)
			}
			_, err := ca.ReadFrame(context.Background())
			var de *Error
			if !errors.As(err, &de) || de.Code != tc.code {
				t.Fatalf("got %v, want dtls.%s", err, tc.code)
			}
		})
	}
}

// A frame whose payload violates the framing (an empty request) is refused
// with frame's code once assembled.
func TestAssembledFrameChecked(t *testing.T) {
	a, b := newLink(nil)
	ca := New(a, frame.SeatrxIssue, fast)
	defer ca.Close()
	defer b.Close()
	b.Write(frag(0, 5, 0, hdr(frame.TypeRequest, 0)))
	_, err := ca.ReadFrame(context.Background())
	var fe *frame.Error
	if !errors.As(err, &fe) || fe.Code != frame.CodeEmpty {
		t.Fatalf("got %v, want frame.empty", err)
	}
}
