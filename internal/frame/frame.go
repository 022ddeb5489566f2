// Package frame carries exported-authenticator messages as a stream of
// typed, length-prefixed frames over any io.Reader and io.Writer (a TLS
// connection), or, one frame per message, over DTLS (package datagram). It
// knows three framings that share one header, uint8 type || uint32 length
// (big-endian) || payload:
//
//   - Seatrx, seatrx's own ("seatrx-raw/1", docs/PROTOCOL.md §11): request,
//     authenticator, and the relying party's verdict, result or error;
//   - SeatrxIssue, seatrx-raw/1 and attest-and-issue with its answer, which
//     a seatrx server speaks over DTLS 1.3 (docs/PROTOCOL.md §13);
//   - Cocos, ultravioletrs/cocos pkg/atls's: request and authenticator only.
//
// Every length is checked against its type's limit before the body is
// read, so a peer cannot make the reader allocate more than the limit.
package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/seatrx/seatrx/expat"
)

// Framing names a framing: which frame types exist.
type Framing uint8

// Framings.
const (
	// Seatrx is seatrx-raw/1: types 1 to 4.
	Seatrx Framing = iota + 1
	// Cocos is cocos's framing: types 1 and 2; it has no verdict frames (a
	// cocos peer closes the connection to refuse).
	Cocos
	// SeatrxIssue ("seatrx-issue/1") is seatrx-raw/1 and types 5 and 6,
	// attest-and-issue and its answer: what a seatrx server speaks on its
	// DTLS listener (docs/PROTOCOL.md §13).
	SeatrxIssue
)

// String returns the framing's name, as the CLI spells it.
func (f Framing) String() string {
	switch f {
	case Seatrx:
		return "seatrx-raw"
	case Cocos:
		return "cocos"
	case SeatrxIssue:
		return "seatrx-issue"
	}
	return fmt.Sprintf("Framing(%d)", uint8(f))
}

// Type is a frame's type byte.
type Type uint8

// Frame types.
const (
	// TypeRequest carries one Authenticator Request (RFC 9261 §4), header
	// included: a CertificateRequest or ClientCertificateRequest.
	TypeRequest Type = 1
	// TypeAuthenticator carries one Authenticator (RFC 9261 §5), or a lone
	// Finished (the empty authenticator, §6).
	TypeAuthenticator Type = 2
	// TypeResult (seatrx only) is the relying party's acceptance: an EAR
	// (JWT, compact serialisation) about the attester, or empty.
	TypeResult Type = 3
	// TypeError (seatrx only) is a refusal: an RFC 9457 problem (JSON) whose
	// code is a seatrx wire code (expat.*, attest.*, frame.*, ...).
	TypeError Type = 4
	// TypeAttestIssue (seatrx-issue only) is the attester's authenticator
	// and a receipt request in one: the CBOR request of POST
	// /v1/attest/issue (docs/PROTOCOL.md §8.5).
	TypeAttestIssue Type = 5
	// TypeIssued (seatrx-issue only) is the answer to TypeAttestIssue: the
	// CBOR response of POST /v1/attest/issue (EAR, receipt id, bundle,
	// token secret).
	TypeIssued Type = 6
)

// String returns the type's name.
func (t Type) String() string {
	switch t {
	case TypeRequest:
		return "request"
	case TypeAuthenticator:
		return "authenticator"
	case TypeResult:
		return "result"
	case TypeError:
		return "error"
	case TypeAttestIssue:
		return "attest-issue"
	case TypeIssued:
		return "issued"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// HeaderSize is the size of a frame header: type (1) and length (4).
const HeaderSize = 5

// Size limits of a frame's payload, by type, checked before reading it.
const (
	MaxRequest       = expat.MaxRequestSize       // 16 KiB
	MaxAuthenticator = expat.MaxAuthenticatorSize // 256 KiB
	MaxResult        = 64 << 10                   // an EAR is at most 64 KiB
	MaxError         = 64 << 10                   // a problem document
	// MaxAttestIssue is an authenticator and a CBOR receipt request (64
	// KiB), as POST /v1/attest/issue takes them, and their CBOR overhead.
	MaxAttestIssue = MaxAuthenticator + 64<<10 + 64
	// MaxIssued is the answer to it: an EAR, a receipt bundle (which holds
	// the EAR again and the policy) and a token secret.
	MaxIssued = 512 << 10
)

// Limit returns the largest payload of type t in framing f, and false if f
// has no such type.
func (f Framing) Limit(t Type) (int, bool) {
	seatrx := f == Seatrx || f == SeatrxIssue
	switch t {
	case TypeRequest:
		return MaxRequest, seatrx || f == Cocos
	case TypeAuthenticator:
		return MaxAuthenticator, seatrx || f == Cocos
	case TypeResult:
		return MaxResult, seatrx
	case TypeError:
		return MaxError, seatrx
	case TypeAttestIssue:
		return MaxAttestIssue, f == SeatrxIssue
	case TypeIssued:
		return MaxIssued, f == SeatrxIssue
	}
	return 0, false
}

// Frame is one message.
type Frame struct {
	Type    Type
	Payload []byte
}

// Read reads one frame from r: the header, the type and length checked
// against f before any payload byte is read or allocated, then exactly the
// payload. A stream that ends cleanly before a header returns io.EOF; one
// that ends inside a frame is frame.truncated; I/O errors (timeouts, a
// reset) are returned as they are.
func (f Framing) Read(r io.Reader) (Frame, error) {
	var h [HeaderSize]byte
	if n, err := io.ReadFull(r, h[:]); err != nil {
		switch {
		case errors.Is(err, io.EOF) && n == 0:
			return Frame{}, io.EOF
		case errors.Is(err, io.ErrUnexpectedEOF):
			return Frame{}, fail(CodeTruncated, "the stream ended after %d of the %d header bytes", n, HeaderSize)
		}
		return Frame{}, err
	}
	t, n := Type(h[0]), binary.BigEndian.Uint32(h[1:])
	limit, ok := f.Limit(t)
	switch {
	case !ok:
		return Frame{}, fail(CodeUnknownType, "frame type %d is not one of the %s framing's", uint8(t), f)
	case uint64(n) > uint64(limit):
		return Frame{}, fail(CodeTooLarge, "%s frame of %d bytes; the limit is %d", t, n, limit)
	case n == 0 && t != TypeResult:
		return Frame{}, fail(CodeEmpty, "%s frame with an empty payload", t)
	}
	p := make([]byte, n)
	if got, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, fail(CodeTruncated, "the stream ended after %d of the %d payload bytes of a %s frame", got, n, t)
		}
		return Frame{}, err
	}
	return Frame{Type: t, Payload: p}, nil
}

// Write writes one frame to w in a single Write call, refusing a type f
// does not have and a payload over the type's limit (the same rules Read
// applies, so a seatrx writer never sends what a seatrx reader refuses).
func (f Framing) Write(w io.Writer, t Type, payload []byte) error {
	limit, ok := f.Limit(t)
	switch {
	case !ok:
		return fail(CodeUnknownType, "frame type %d is not one of the %s framing's", uint8(t), f)
	case len(payload) > limit:
		return fail(CodeTooLarge, "%s frame of %d bytes; the limit is %d", t, len(payload), limit)
	case len(payload) == 0 && t != TypeResult:
		return fail(CodeEmpty, "%s frame with an empty payload", t)
	}
	b := make([]byte, HeaderSize, HeaderSize+len(payload))
	b[0] = byte(t)
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	_, err := w.Write(append(b, payload...))
	return err
}
