package expat

import (
	"crypto"
	"testing"

	"github.com/seatrx/seatrx/internal/handshake"
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
	es := make([]handshake.Entry, len(entries))
	for i, e := range entries {
		es[i] = handshake.Entry{CertData: e.der, Extensions: wireExtensions(e.exts)}
	}
	m, err := handshake.Certificate(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// forge signs cert with key under scheme and appends a correct Finished, so
// that validation reaches the check the malformed Certificate targets.
// cvTail is appended inside the CertificateVerify body (trailing-data cases).
// A nil key gives a zero signature.
func forge(t testing.TB, ch Channel, sender Role, req *Request, cert []byte, key crypto.Signer, scheme SignatureScheme, cvTail []byte) []byte {
	t.Helper()
	k, err := ch.keys(sender)
	if err != nil {
		t.Fatal(err)
	}
	reqRaw := requestRaw(req)
	sig := make([]byte, 64)
	if key != nil {
		if sig, err = scheme.sign(key, k.SignedContent(reqRaw, cert), nil); err != nil {
			t.Fatal(err)
		}
	}
	cv, err := handshake.CertificateVerify(uint16(scheme), sig, cvTail)
	if err != nil {
		t.Fatal(err)
	}
	fin, err := k.Finished(reqRaw, cert, cv)
	if err != nil {
		t.Fatal(err)
	}
	return append(append(append([]byte{}, cert...), cv...), fin...)
}
