package datagram

import (
	"encoding/binary"
	"testing"

	"github.com/seatrx/seatrx/internal/frame"
)

// discard is a RecordConn that drops what is written and never reads.
type discard struct{}

func (discard) Read([]byte) (int, error)    { select {} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Close() error                { return nil }

// FuzzRecords feeds a peer's records (the input split by uint16 length
// prefixes) to the reassembly: it must never panic, never hold more than
// the framing's largest message, and every assembled message must be a
// frame the framing accepts or be refused with a code.
func FuzzRecords(f *testing.F) {
	f.Add([]byte{0, 5, kindAck, 0, 0, 0, 0})
	f.Add(append([]byte{0, 19}, frag(0, 6, 0, []byte{1, 0, 0, 0, 1, 9})...))
	two := append([]byte{1, 13}, frag(0, 300, 0, append(hdr(frame.TypeAuthenticator, 295), make([]byte, 251)...))...)
	two = append(two, 0, 13+44)
	f.Add(append(two, frag(0, 300, 256, make([]byte, 44))...))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &Conn{rc: discard{}, framing: frame.SeatrxIssue, cfg: fast.withDefaults()}
		limit := int(c.maxMessage())
		for len(in) >= 2 {
			n := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			if n > len(in) {
				n = len(in)
			}
			rec := in[:n]
			in = in[n:]
			if err := c.handle(rec); err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("untyped error %T: %v", err, err)
				}
				return
			}
			if c.asm != nil && len(c.asm.buf) > limit {
				t.Fatalf("assembling %d bytes, over the limit %d", len(c.asm.buf), limit)
			}
			for len(c.ready) > 0 {
				msg := c.ready[0]
				c.ready = c.ready[1:]
				fr, err := c.framing.Read(&bytesReader{b: msg})
				if err != nil {
					if _, ok := err.(*frame.Error); !ok {
						t.Fatalf("assembled message refused without a frame code: %v", err)
					}
					continue
				}
				if len(fr.Payload)+frame.HeaderSize != len(msg) {
					t.Fatalf("frame of %d bytes in a message of %d", len(fr.Payload), len(msg))
				}
			}
		}
	})
}
