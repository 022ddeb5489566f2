// Package datagram carries seatrx's exchange over DTLS 1.3 (issue 17): the
// exporter adapter that lets expat and tlsbind work on a pion DTLS 1.3
// connection unchanged (Channel), the DTLS configuration seatrx allows
// (ServerOptions, ClientOptions: DTLS 1.3 only, no resumption, tickets or
// 0-RTT), and a message transport (Conn) that carries the length-prefixed
// frames of package frame in DTLS application records.
//
// DTLS records may be lost, duplicated or reordered, and must fit the path
// MTU, so Conn fragments each frame into records of at most FragmentSize
// payload bytes, reassembles them by offset, acknowledges each whole
// message, and retransmits an unacknowledged one with exponential backoff
// until the step's time runs out (a *Error with CodeTimeout). It never
// waits longer than Config.StepTimeout for any step, so a silent or lossy
// path ends in a named timeout, not a hang. Messages travel one at a time
// in each direction (stop and wait): the exchanges seatrx runs alternate.
//
// Record layout (docs/PROTOCOL.md §13), all integers big-endian:
//
//	fragment:        uint8 kind = 1 | uint32 seq | uint32 total | uint32 offset | data (1..FragmentSize bytes)
//	acknowledgement: uint8 kind = 2 | uint32 seq
//
// seq numbers the sender's messages from 0; total is the whole message's
// size (a frame: 5-byte header and payload), checked against the frame
// type's limit before anything is allocated.
package datagram

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/seatrx/seatrx/internal/frame"
)

// Record kinds.
const (
	kindFragment = 1
	kindAck      = 2
)

// Sizes of the transport (documented in docs/PROTOCOL.md §13).
const (
	// FragmentSize is the most message bytes one record carries: with the
	// 13-byte fragment header and DTLS 1.3's record overhead (at most 21
	// bytes with a 16-byte AEAD tag) it fits MTU.
	FragmentSize = 1024
	// FragmentHeader is a fragment record's header size.
	FragmentHeader = 13
	// AckSize is an acknowledgement record's size.
	AckSize = 5
	// MinFragment is the least data a fragment carries unless it ends its
	// message, so that a message has at most total/MinFragment+1 pieces.
	MinFragment = 256
	// MaxRecord is the largest record a reader accepts (DTLS's plaintext
	// limit, 2^14); larger is CodeMalformed.
	MaxRecord = 1 << 14
)

// Default timing of Config.
const (
	DefaultInitialRTO  = 250 * time.Millisecond
	DefaultMaxRTO      = 2 * time.Second
	DefaultStepTimeout = 30 * time.Second
)

// Config tunes a Conn; zero values take the defaults.
type Config struct {
	// InitialRTO is the first retransmission timeout of an unacknowledged
	// message; each retransmission doubles it, up to MaxRTO.
	InitialRTO, MaxRTO time.Duration
	// StepTimeout bounds each step: waiting for a message (ReadFrame) or
	// for the acknowledgement of ours (Flush), retransmissions included.
	StepTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.InitialRTO <= 0 {
		c.InitialRTO = DefaultInitialRTO
	}
	if c.MaxRTO <= 0 {
		c.MaxRTO = DefaultMaxRTO
	}
	if c.StepTimeout <= 0 {
		c.StepTimeout = DefaultStepTimeout
	}
	return c
}

// RecordConn is a connection whose Write sends one record and whose Read
// returns one record: a *dtls.Conn after its handshake.
type RecordConn interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	Close() error
}

// Conn carries frames of one framing over a RecordConn. It is used by one
// goroutine at a time (the exchange is sequential); Close may be called
// from any.
type Conn struct {
	rc      RecordConn
	framing frame.Framing
	cfg     Config

	records chan []byte
	readErr chan error
	done    chan struct{}
	once    sync.Once

	sendSeq uint32    // the next message's seq
	out     *outgoing // our newest message until acknowledged
	recvSeq uint32    // the seq of the message being assembled
	asm     *assembly
	ready   [][]byte // whole messages not yet returned by ReadFrame
	failed  error    // a fatal error: every later read returns it
	broken  error    // the connection itself failed (closed, timed out): nothing more is sent
	stats   Stats
}

// Stats count what the transport did, for tests and logs.
type Stats struct {
	Sent, Received, Retransmitted, Duplicates, AcksSent int
}

type outgoing struct {
	seq   uint32
	recs  [][]byte
	rto   time.Duration
	next  time.Time
	acked bool
}

type assembly struct {
	buf  []byte
	have [][2]int // sorted, disjoint [start, end) ranges received
	got  int
}

// New starts carrying framing's frames over rc (whose handshake is done).
// A goroutine reads rc until Close.
func New(rc RecordConn, framing frame.Framing, cfg Config) *Conn {
	c := &Conn{rc: rc, framing: framing, cfg: cfg.withDefaults(),
		records: make(chan []byte, 64), readErr: make(chan error, 1), done: make(chan struct{})}
	go c.readLoop()
	return c
}

func (c *Conn) readLoop() {
	buf := make([]byte, MaxRecord+1)
	for {
		n, err := c.rc.Read(buf)
		if err != nil {
			c.readErr <- err
			return
		}
		rec := slices.Clone(buf[:n])
		select {
		case c.records <- rec:
		case <-c.done:
			return
		}
	}
}

// Close closes the connection (a DTLS close_notify) and stops the reader.
func (c *Conn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.done)
		err = c.rc.Close()
	})
	return err
}

// Stats returns the counters so far.
func (c *Conn) Stats() Stats { return c.stats }

// WriteFrame sends one frame of type t: refused by the framing's rules
// (type, limit, empty payload: frame's codes) before anything is sent. It
// waits for the acknowledgement of our previous message first, if it is
// still outstanding, and returns once the new one is sent, not
// acknowledged: the next ReadFrame or Flush keeps retransmitting it.
//
// After the peer broke the framing (a malformed or oversized message)
// WriteFrame still sends, so that the refusal can be told in an error
// frame; after a timeout or a closed connection it sends nothing.
func (c *Conn) WriteFrame(ctx context.Context, t frame.Type, payload []byte) error {
	if c.broken != nil {
		return c.broken
	}
	var b bytesWriter
	if err := c.framing.Write(&b, t, payload); err != nil {
		return err
	}
	if c.out != nil && !c.out.acked {
		if err := c.Flush(ctx); err != nil {
			return err
		}
	}
	msg := b.b
	o := &outgoing{seq: c.sendSeq, rto: c.cfg.InitialRTO}
	for off := 0; off < len(msg); off += FragmentSize {
		end := min(off+FragmentSize, len(msg))
		r := make([]byte, FragmentHeader, FragmentHeader+end-off)
		r[0] = kindFragment
		binary.BigEndian.PutUint32(r[1:], o.seq)
		binary.BigEndian.PutUint32(r[5:], uint32(len(msg)))
		binary.BigEndian.PutUint32(r[9:], uint32(off))
		o.recs = append(o.recs, append(r, msg[off:end]...))
	}
	c.sendSeq++
	c.out = o
	if err := c.transmit(o); err != nil {
		return c.fatal(err)
	}
	c.stats.Sent++
	return nil
}

func (c *Conn) transmit(o *outgoing) error {
	for _, r := range o.recs {
		if _, err := c.rc.Write(r); err != nil {
			return &Error{Code: CodeClosed, Detail: "write a record", Err: err}
		}
	}
	o.next = time.Now().Add(o.rto)
	return nil
}

// Flush waits until our newest message is acknowledged, retransmitting it,
// for at most StepTimeout: CodeTimeout after that.
func (c *Conn) Flush(ctx context.Context) error {
	if c.broken != nil {
		return c.broken
	}
	return c.pump(ctx, "the acknowledgement of our message", func() bool { return c.out == nil || c.out.acked })
}

// ReadFrame returns the peer's next frame, assembled from its fragments,
// checked by the framing's rules (an unknown type, a length over the
// type's limit: refused before the message is assembled). It waits at
// most StepTimeout (CodeTimeout), retransmitting our unacknowledged message
// meanwhile. A frame of type error is returned as any other: the caller
// reads the refusal.
func (c *Conn) ReadFrame(ctx context.Context) (frame.Frame, error) {
	if c.failed != nil {
		return frame.Frame{}, c.failed
	}
	if err := c.pump(ctx, "the peer's next message", func() bool { return len(c.ready) > 0 }); err != nil {
		return frame.Frame{}, err
	}
	msg := c.ready[0]
	c.ready = c.ready[1:]
	f, err := c.framing.Read(&bytesReader{b: msg})
	if err != nil {
		return frame.Frame{}, c.fatal(err)
	}
	return f, nil
}

// pump processes records and retransmissions until done() or the step's
// time runs out.
func (c *Conn) pump(ctx context.Context, what string, done func() bool) error {
	deadline := time.NewTimer(c.cfg.StepTimeout)
	defer deadline.Stop()
	retx := time.NewTimer(time.Hour)
	defer retx.Stop()
	for !done() {
		if c.out != nil && !c.out.acked {
			retx.Reset(max(time.Until(c.out.next), 0))
		} else {
			retx.Stop()
		}
		select {
		case rec := <-c.records:
			if err := c.handle(rec); err != nil {
				return c.fatal(err)
			}
		case err := <-c.readErr:
			c.readErr <- err // every later wait sees it too
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return c.fatal(&Error{Code: CodeClosed, Detail: "the connection closed while waiting for " + what, Err: err})
			}
			return c.fatal(&Error{Code: CodeClosed, Detail: "reading the connection while waiting for " + what, Err: err})
		case <-retx.C:
			o := c.out
			o.rto = min(o.rto*2, c.cfg.MaxRTO)
			if err := c.transmit(o); err != nil {
				return c.fatal(err)
			}
			c.stats.Retransmitted++
		case <-deadline.C:
			return c.fatal(fail(CodeTimeout, "%s did not come within %s", what, c.cfg.StepTimeout))
		case <-ctx.Done():
			return c.fatal(&Error{Code: CodeTimeout, Detail: "waiting for " + what, Err: context.Cause(ctx)})
		}
	}
	return nil
}

// fatal records err: reads fail from now on, and, if the connection
// itself failed (closed, timed out), writes too.
func (c *Conn) fatal(err error) error {
	if c.failed == nil {
		c.failed = err
	}
	var e *Error
	if c.broken == nil && errors.As(err, &e) && (e.Code == CodeClosed || e.Code == CodeTimeout) {
		c.broken = err
	}
	return err
}

// handle processes one record.
func (c *Conn) handle(rec []byte) error {
	if len(rec) > MaxRecord {
		return fail(CodeMalformed, "a record of %d bytes; the limit is %d", len(rec), MaxRecord)
	}
	if len(rec) == 0 {
		return fail(CodeMalformed, "an empty record")
	}
	switch rec[0] {
	case kindAck:
		if len(rec) != AckSize {
			return fail(CodeMalformed, "an acknowledgement of %d bytes; it has %d", len(rec), AckSize)
		}
		if seq := binary.BigEndian.Uint32(rec[1:]); c.out != nil && seq == c.out.seq {
			c.out.acked = true
		}
		return nil
	case kindFragment:
		return c.fragment(rec)
	}
	return fail(CodeMalformed, "record kind %d (want %d fragment or %d acknowledgement)", rec[0], kindFragment, kindAck)
}

// fragment checks one fragment record and adds it to its message.
func (c *Conn) fragment(rec []byte) error {
	if len(rec) <= FragmentHeader {
		return fail(CodeMalformed, "a fragment of %d bytes: a %d-byte header and at least one data byte", len(rec), FragmentHeader)
	}
	seq := binary.BigEndian.Uint32(rec[1:])
	total := int64(binary.BigEndian.Uint32(rec[5:]))
	off := int64(binary.BigEndian.Uint32(rec[9:]))
	data := rec[FragmentHeader:]
	switch {
	case seq < c.recvSeq:
		// A message we have: our acknowledgement was lost. Say it again.
		c.stats.Duplicates++
		c.ack(seq)
		return nil
	case seq > c.recvSeq:
		// The peer sends its next message only after our acknowledgement
		// of this one: a later seq is a retransmission race; drop it.
		c.stats.Duplicates++
		return nil
	}
	if limit := c.maxMessage(); total > limit {
		return fail(CodeTooLarge, "message %d declares %d bytes; the largest %s frame is %d", seq, total, c.framing, limit)
	}
	if total < frame.HeaderSize {
		return fail(CodeMalformed, "message %d declares %d bytes, less than a frame header", seq, total)
	}
	end := off + int64(len(data))
	switch {
	case end > total:
		return fail(CodeMalformed, "fragment [%d, %d) of message %d ends past its %d bytes", off, end, seq, total)
	case end < total && len(data) < MinFragment:
		return fail(CodeMalformed, "fragment [%d, %d) of message %d has %d bytes; only the last may have fewer than %d", off, end, seq, len(data), MinFragment)
	}
	if c.asm == nil {
		c.asm = &assembly{buf: make([]byte, total)}
	} else if int64(len(c.asm.buf)) != total {
		return fail(CodeMalformed, "fragments of message %d declare %d and %d bytes", seq, len(c.asm.buf), total)
	}
	if off == 0 {
		if err := c.checkHeader(data, total); err != nil {
			return err
		}
	}
	dup, err := c.asm.add(int(off), int(end))
	if err != nil {
		return fail(CodeMalformed, "fragment [%d, %d) of message %d: %v", off, end, seq, err)
	}
	if dup {
		c.stats.Duplicates++
		return nil
	}
	copy(c.asm.buf[off:], data)
	if c.asm.got < len(c.asm.buf) {
		return nil
	}
	c.ready = append(c.ready, c.asm.buf)
	c.asm = nil
	c.recvSeq++
	c.stats.Received++
	c.ack(seq)
	return nil
}

// checkHeader checks a message's frame header (its first bytes) against
// the framing and the declared total, before the rest is assembled.
func (c *Conn) checkHeader(data []byte, total int64) error {
	if len(data) < frame.HeaderSize {
		return fail(CodeMalformed, "the first fragment has %d bytes, less than a frame header", len(data))
	}
	t := frame.Type(data[0])
	limit, ok := c.framing.Limit(t)
	if !ok {
		return fail(CodeMalformed, "frame type %d is not one of the %s framing's", data[0], c.framing)
	}
	n := int64(binary.BigEndian.Uint32(data[1:]))
	if n > int64(limit) {
		return fail(CodeTooLarge, "%s frame of %d bytes; the limit is %d", t, n, limit)
	}
	if n+frame.HeaderSize != total {
		return fail(CodeMalformed, "%s frame of %d bytes in a message of %d bytes (want %d)", t, n, total, n+frame.HeaderSize)
	}
	return nil
}

// maxMessage is the largest message of the framing: a header and the
// largest payload of any of its types.
func (c *Conn) maxMessage() int64 {
	var m int
	for t := frame.Type(1); t < 16; t++ {
		if l, ok := c.framing.Limit(t); ok {
			m = max(m, l)
		}
	}
	return int64(m) + frame.HeaderSize
}

// ack acknowledges message seq, best effort: an acknowledgement is a
// datagram like any other, and the message it acknowledges is whole
// whatever becomes of it. A failed write is not an error here: the peer
// may already have closed the connection after an earlier acknowledgement
// reached it (pion can report the close on a write that went out), and a
// connection that really failed shows on the next read or write.
func (c *Conn) ack(seq uint32) {
	var r [AckSize]byte
	r[0] = kindAck
	binary.BigEndian.PutUint32(r[1:], seq)
	if _, err := c.rc.Write(r[:]); err == nil {
		c.stats.AcksSent++
	}
}

// add records [start, end) as received: dup if exactly that range was
// already, an error if it overlaps another.
func (a *assembly) add(start, end int) (dup bool, err error) {
	i, _ := slices.BinarySearchFunc(a.have, start, func(r [2]int, s int) int { return r[0] - s })
	if i < len(a.have) && a.have[i][0] == start {
		if a.have[i][1] == end {
			return true, nil
		}
		return false, errors.New("overlaps a fragment already received")
	}
	if i > 0 && a.have[i-1][1] > start || i < len(a.have) && a.have[i][0] < end {
		return false, errors.New("overlaps a fragment already received")
	}
	a.have = slices.Insert(a.have, i, [2]int{start, end})
	a.got += end - start
	return false, nil
}

type bytesWriter struct{ b []byte }

func (w *bytesWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

type bytesReader struct{ b []byte }

func (r *bytesReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
