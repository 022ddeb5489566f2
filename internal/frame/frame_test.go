package frame

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// The request frame cocos's client sends first (interop note §2.6): type 1,
// length 0x33, a ClientCertificateRequest with a 32-byte context,
// signature_algorithms [0x0403] and an empty cmw_attestation.
const cocosFirstFrame = "01 00000033 11 00002f 20" +
	" c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1" +
	" 000c 000d 0004 0002 0403 ff00 0000"

func TestReadCocosRequest(t *testing.T) {
	in := hx(cocosFirstFrame)
	f, err := Cocos.Read(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != TypeRequest || len(f.Payload) != 0x33 || f.Payload[0] != 0x11 {
		t.Fatalf("%+v", f)
	}
	var out bytes.Buffer
	if err := Cocos.Write(&out, f.Type, f.Payload); err != nil || !bytes.Equal(out.Bytes(), in) {
		t.Fatalf("round trip: %x, %v", out.Bytes(), err)
	}
}

// Malformed input is refused with the code naming the rule, and the
// payload of an oversized frame is never read.
func TestReadMalformed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		framing Framing
		in      string
		code    Code // "" = io.EOF
	}{
		{"clean end", Seatrx, "", ""},
		{"truncated header", Seatrx, "01 0000", CodeTruncated},
		{"truncated payload", Seatrx, "01 00000004 0d00", CodeTruncated},
		{"type 0", Seatrx, "00 00000001 00", CodeUnknownType},
		{"type 5", Seatrx, "05 00000001 00", CodeUnknownType},
		{"result in cocos framing", Cocos, "03 00000000", CodeUnknownType},
		{"error in cocos framing", Cocos, "04 00000002 7b7d", CodeUnknownType},
		{"request over 16 KiB", Seatrx, "01 00004001", CodeTooLarge},
		{"authenticator over 256 KiB", Cocos, "02 00040001", CodeTooLarge},
		{"4 GiB length", Seatrx, "02 ffffffff", CodeTooLarge},
		{"result over 64 KiB", Seatrx, "03 00010001", CodeTooLarge},
		{"empty request", Seatrx, "01 00000000", CodeEmpty},
		{"empty authenticator frame", Cocos, "02 00000000", CodeEmpty},
		{"empty error", Seatrx, "04 00000000", CodeEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.framing.Read(bytes.NewReader(hx(tc.in)))
			if tc.code == "" {
				if err != io.EOF {
					t.Fatalf("%v, want io.EOF", err)
				}
				return
			}
			var fe *Error
			if !errors.As(err, &fe) || fe.Code != tc.code || fe.ProblemCode() != "frame."+string(tc.code) {
				t.Fatalf("%v, want frame.%s", err, tc.code)
			}
		})
	}
}

// A length over the limit is refused from the header alone: the reader
// asks for no payload byte (a reader that fails any further read shows it).
func TestLimitCheckedBeforeBody(t *testing.T) {
	r := io.MultiReader(bytes.NewReader(hx("02 7fffffff")), failReader{})
	_, err := Seatrx.Read(r)
	var fe *Error
	if !errors.As(err, &fe) || fe.Code != CodeTooLarge {
		t.Fatalf("%v", err)
	}
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("payload read") }

// I/O errors come back as they are, so callers can tell a timeout from a
// framing error.
func TestIOErrorsPassThrough(t *testing.T) {
	boom := errors.New("reset")
	if _, err := Seatrx.Read(errReader{boom}); !errors.Is(err, boom) {
		t.Fatalf("%v", err)
	}
	if _, err := Seatrx.Read(io.MultiReader(bytes.NewReader(hx("01 00000004")), errReader{boom})); !errors.Is(err, boom) {
		t.Fatalf("%v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Write applies Read's rules and emits one frame per call.
func TestWrite(t *testing.T) {
	var w bytes.Buffer
	if err := Seatrx.Write(&w, TypeResult, nil); err != nil || !bytes.Equal(w.Bytes(), hx("03 00000000")) {
		t.Fatalf("%x %v", w.Bytes(), err)
	}
	for _, tc := range []struct {
		f    Framing
		t    Type
		n    int
		code Code
	}{
		{Cocos, TypeError, 2, CodeUnknownType},
		{Seatrx, TypeRequest, MaxRequest + 1, CodeTooLarge},
		{Seatrx, TypeAuthenticator, 0, CodeEmpty},
	} {
		err := tc.f.Write(io.Discard, tc.t, make([]byte, tc.n))
		var fe *Error
		if !errors.As(err, &fe) || fe.Code != tc.code {
			t.Errorf("%v %v %d: %v, want %s", tc.f, tc.t, tc.n, err, tc.code)
		}
	}
	// A stream of frames reads back in order.
	w.Reset()
	for _, p := range []Frame{{TypeRequest, []byte{0x0d}}, {TypeAuthenticator, []byte{0x14, 1}}, {TypeError, []byte("{}")}} {
		if err := Seatrx.Write(&w, p.Type, p.Payload); err != nil {
			t.Fatal(err)
		}
	}
	r := bytes.NewReader(w.Bytes())
	for _, want := range []Type{TypeRequest, TypeAuthenticator, TypeError} {
		f, err := Seatrx.Read(r)
		if err != nil || f.Type != want {
			t.Fatalf("%v %v", f, err)
		}
	}
	if _, err := Seatrx.Read(r); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
}
