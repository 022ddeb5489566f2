package expattest_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/expattest"
)

// A conformance suite builds each fault from the ingredients of one correct
// authenticator and checks that the receiver refuses it; here the receiver
// is seatrx's own expat.Validate, for a foreign peer it is that peer.
func Example() {
	ch, _ := expat.NewOfflineChannel(tls.TLS_AES_128_GCM_SHA256, bytes.Repeat([]byte{7}, 32))
	req, _ := expat.NewRequest(expat.Server, expat.RequestOptions{OfferCMW: true})
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aik"}, NotAfter: time.Now().Add(time.Hour)}
	cert, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)

	in := expattest.Input{Channel: ch, Sender: expat.Client, Request: req, Chain: [][]byte{cert}, Key: key,
		Scheme: expat.Ed25519, CMW: []byte(`{"example":"cmw"}`)}
	for _, f := range expattest.Faults()[:5] {
		auth, err := f.Build(in)
		if err != nil {
			panic(err)
		}
		_, err = expat.Validate(ch, expat.Client, req, auth, nil)
		fmt.Printf("%-22s refused=%v as %s\n", f.Name, errors.Is(err, f.Want), f.Want.ProblemCode())
	}
	// Output:
	// bad-signature          refused=true as expat.bad_signature
	// bad-finished           refused=true as expat.bad_finished
	// context-mismatch       refused=true as expat.context_mismatch
	// extension-not-offered  refused=true as expat.extension_not_offered
	// cmw-not-first-entry    refused=true as expat.cmw_not_first_entry
}
