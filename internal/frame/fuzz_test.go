package frame

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzRead reads frames from arbitrary bytes in both framings until the
// stream ends or is refused: no panic, no payload over its type's limit,
// every accepted frame re-encodes to exactly the bytes it was read from,
// and every refusal is io.EOF or a typed frame error.
func FuzzRead(f *testing.F) {
	f.Add(hx(cocosFirstFrame), true)
	f.Add(hx("01 00000001 0d 02 00000001 14 03 00000000 04 00000002 7b7d"), false)
	f.Add(hx("02 ffffffff"), false)
	f.Add(hx("03 00000000"), true)
	f.Add([]byte{1, 0, 0}, false)
	f.Fuzz(func(t *testing.T, data []byte, cocos bool) {
		fr := Seatrx
		if cocos {
			fr = Cocos
		}
		r := bytes.NewReader(data)
		for {
			before := len(data) - r.Len()
			got, err := fr.Read(r)
			if err != nil {
				var fe *Error
				if err != io.EOF && !errors.As(err, &fe) {
					t.Fatalf("untyped error %v", err)
				}
				return
			}
			limit, ok := fr.Limit(got.Type)
			if !ok || len(got.Payload) > limit {
				t.Fatalf("accepted %v of %d bytes (limit %d, known %v)", got.Type, len(got.Payload), limit, ok)
			}
			var w bytes.Buffer
			if err := fr.Write(&w, got.Type, got.Payload); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if consumed := data[before : len(data)-r.Len()]; !bytes.Equal(w.Bytes(), consumed) {
				t.Fatalf("re-encoded %x, read %x", w.Bytes(), consumed)
			}
		}
	})
}
