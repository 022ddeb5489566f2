package expat

import (
	"crypto"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// entry describes one CertificateEntry of a forged Certificate message.
type entry struct {
	der  []byte
	exts []Extension
}

// certMsg encodes a Certificate message exactly as described, without any
// of Authenticate's checks.
func certMsg(t testing.TB, ctx []byte, entries ...entry) []byte {
	t.Helper()
	m, err := marshalMessage(TypeCertificate, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ctx) })
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range entries {
				b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.der) })
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					for _, x := range e.exts {
						b.AddUint16(x.Type)
						b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(x.Data) })
					}
				})
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// forge signs cert with key under scheme and appends a correct Finished, so
// that validation reaches the check the malformed Certificate targets.
// cvTail is appended inside the CertificateVerify body (trailing-data cases).
func forge(t testing.TB, ch Channel, sender Role, req *Request, cert []byte, key crypto.Signer, scheme SignatureScheme, cvTail []byte) []byte {
	t.Helper()
	h, hc, fk, err := ch.keys(sender)
	if err != nil {
		t.Fatal(err)
	}
	reqRaw := requestRaw(req)
	var sig []byte
	if key != nil {
		if sig, err = scheme.sign(key, cvMessage(h, hc, reqRaw, cert), nil); err != nil {
			t.Fatal(err)
		}
	} else {
		sig = make([]byte, 64)
	}
	cv, err := marshalMessage(TypeCertificateVerify, func(b *cryptobyte.Builder) {
		b.AddUint16(uint16(scheme))
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sig) })
		b.AddBytes(cvTail)
	})
	if err != nil {
		t.Fatal(err)
	}
	fin, err := finishedMessage(h, fk, hc, reqRaw, cert, cv)
	if err != nil {
		t.Fatal(err)
	}
	return append(append(append([]byte{}, cert...), cv...), fin...)
}
