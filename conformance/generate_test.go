package conformance

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/expattest"
)

var update = flag.Bool("update", false, "regenerate conformance/vectors/*.json from the generator")

// Fixed inputs, so that Ed25519 vectors are byte-exact and regeneration is
// reproducible. The exporter master secret of RFC 8448 §3 is the first one.
var (
	ems256 = mustHex("fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50")
	ems384 = bytes.Repeat([]byte{0x38}, 48)
	ctxA   = bytes.Repeat([]byte{0xc1}, 32)
	ctxB   = bytes.Repeat([]byte{0xc2}, 32)
	cmwEx  = mustHex("a2685f5f636d77635f74781d7461673a6769746875622e636f6d2c323032363a736561747278") // a CBOR map prefix; opaque to expat
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

type vkey struct {
	signer crypto.Signer
	pkcs8  []byte
	cert   []byte
}

func newVKey(t *testing.T, s crypto.Signer) vkey {
	t.Helper()
	p8, err := x509.MarshalPKCS8PrivateKey(s)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "seatrx conformance AIK"},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Public(), s)
	if err != nil {
		t.Fatal(err)
	}
	return vkey{s, p8, der}
}

func genKeys(t *testing.T) map[string]vkey {
	ed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xed}, 32))
	p256, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{0x25}, 32))
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.ParseRawPrivateKey(elliptic.P384(), bytes.Repeat([]byte{0x38}, 48))
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]vkey{"ed25519": newVKey(t, ed), "p256": newVKey(t, p256), "p384": newVKey(t, p384), "rsa": newVKey(t, rk)}
}

type obj = map[string]any

func commonIn(suite string, ems []byte, role string) obj {
	return obj{"cipher_suite": suite, "exporter_master_secret": Hex(ems), "role": role}
}

func merge(a obj, b obj) obj {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func chanOf(t *testing.T, suite uint16, ems []byte) expat.Channel {
	return must(expat.NewOfflineChannel(suite, ems))
}

func cmwExt(t *testing.T, data []byte) expat.Extension { return must(expat.CMWExtension(0, data)) }

func writeVectors(t *testing.T, kind string, cases []Case) {
	t.Helper()
	f := File{Schema: Schema, Kind: kind, Cases: cases}
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("vectors", kind+".json"), append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkCase(name, desc string, in, exp obj) Case {
	return Case{Name: name, Description: desc, Inputs: must(json.Marshal(in)), Expected: must(json.Marshal(exp))}
}

func errExp(e *expat.Error) obj { return obj{"error": e.ProblemCode()} }

func TestGenerateVectors(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate the vector files")
	}
	keys := genKeys(t)
	const s256, s384 = "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"
	ch256 := chanOf(t, 0x1301, ems256)
	ch384 := chanOf(t, 0x1302, ems384)
	sigalgs := expat.Extension{Type: expat.ExtSignatureAlgorithms, Data: mustHex("000a0807040305030804" + "0805")}
	cmwOffer := expat.Extension{Type: expat.DefaultCMWExtensionType}
	reqS := must(expat.EncodeRequest(expat.Server, ctxA, []expat.Extension{sigalgs, cmwOffer}, 0)) // made by the server, answered by the client
	reqC := must(expat.EncodeRequest(expat.Client, ctxB, []expat.Extension{sigalgs, cmwOffer}, 0)) // made by the client, answered by the server
	reqNoCMW := must(expat.EncodeRequest(expat.Server, ctxB, []expat.Extension{sigalgs}, 0))
	reqS384 := must(expat.EncodeRequest(expat.Server, ctxA, []expat.Extension{{Type: expat.ExtSignatureAlgorithms, Data: mustHex("00020503")}, cmwOffer}, 0))

	// ---- request
	jext := func(es ...expat.Extension) []JSONExtension {
		out := []JSONExtension{}
		for _, e := range es {
			out = append(out, JSONExtension{e.Type, e.Data})
		}
		return out
	}
	raw := func(typ byte, body string) Hex {
		b := mustHex(body)
		return append([]byte{typ, byte(len(b) >> 16), byte(len(b) >> 8), byte(len(b))}, b...)
	}
	var reqCases []Case
	reqCases = append(reqCases,
		mkCase("certificate-request-with-cmw-offer", "Server-made CertificateRequest (13): 32-byte context, five schemes, empty cmw_attestation offer at 0xFF00.",
			obj{"role": "server", "context": Hex(ctxA), "extensions": jext(sigalgs, cmwOffer)},
			obj{"request": Hex(reqS.Raw), "offers_cmw": true}),
		mkCase("client-certificate-request-with-cmw-offer", "Client-made ClientCertificateRequest (17), same body.",
			obj{"role": "client", "context": Hex(ctxB), "extensions": jext(sigalgs, cmwOffer)},
			obj{"request": Hex(reqC.Raw), "offers_cmw": true}),
		mkCase("certificate-request-without-cmw", "No attestation offered.",
			obj{"role": "server", "context": Hex(ctxB), "extensions": jext(sigalgs)},
			obj{"request": Hex(reqNoCMW.Raw), "offers_cmw": false}),
		mkCase("parse-request-schemes", "Parsing returns the context and the schemes in the requester's order.",
			obj{"role": "server", "request": Hex(reqS.Raw)},
			obj{"context": Hex(ctxA), "signature_schemes": []string{"ed25519", "ecdsa_secp256r1_sha256", "ecdsa_secp384r1_sha384", "rsa_pss_rsae_sha256", "rsa_pss_rsae_sha384"}, "offers_cmw": true}),
		mkCase("parse-request-unknown-extension-ignored", "Unknown extensions are ignored (RFC 8446 §4.2).",
			obj{"role": "server", "request": raw(13, "0100"+"000e"+"000d000400020807"+"fafa0002abcd")},
			obj{"context": Hex{0}, "signature_schemes": []string{"ed25519"}}),
		mkCase("reject-request-wrong-direction", "A CertificateRequest (13) claimed to come from a client.",
			obj{"role": "client", "request": Hex(reqS.Raw)}, errExp(expat.ErrWrongDirection)),
		mkCase("reject-request-missing-signature-algorithms", "signature_algorithms is mandatory.",
			obj{"role": "server", "request": raw(13, "0100"+"0004ff000000")}, errExp(expat.ErrMissingSigAlgs)),
		mkCase("reject-request-cmw-offer-not-empty", "The cmw_attestation offer must be empty.",
			obj{"role": "server", "request": raw(13, "0100"+"000e"+"000d000400020807"+"ff00000200a0")}, errExp(expat.ErrCMWOfferNotEmpty)),
		mkCase("reject-request-duplicate-extension", "Two signature_algorithms extensions.",
			obj{"role": "server", "request": raw(13, "0100"+"0010"+"000d000400020807"+"000d000400020807")}, errExp(expat.ErrDuplicateExtension)),
		mkCase("reject-request-trailing-data", "A byte after the message.",
			obj{"role": "server", "request": Hex(append(bytes.Clone(reqS.Raw), 0))}, errExp(expat.ErrTrailingData)),
		mkCase("reject-request-key-share", "key_share (51) is not allowed in a CertificateRequest.",
			obj{"role": "server", "request": raw(13, "0100"+"000c"+"000d000400020807"+"00330000")}, errExp(expat.ErrExtensionNotAllowed)),
		mkCase("reject-request-odd-scheme-list", "signature_algorithms list with an odd length.",
			obj{"role": "server", "request": raw(13, "0100"+"0009"+"000d00050003080704")}, errExp(expat.ErrBadExtension)),
	)
	writeVectors(t, "request", reqCases)

	// ---- authenticator (Ed25519 byte-exact; ECDSA/RSA-PSS verify-only)
	var authCases []Case
	addAuth := func(name, desc, suite string, ems []byte, ch expat.Channel, role expat.Role, req *expat.Request, k vkey, scheme string, exts []expat.Extension, verifyOnly bool, extra obj) {
		in := merge(commonIn(suite, ems, role.String()), obj{
			"certificate_chain": []Hex{k.cert}, "private_key": Hex(k.pkcs8),
			"first_entry_extensions": jext(exts...), "signature_scheme": scheme,
		})
		if req != nil {
			in["request"] = Hex(req.Raw)
		}
		merge(in, extra)
		opts := &expat.AuthOptions{}
		if c, ok := extra["context"]; ok {
			opts.Context = c.(Hex)
			opts.Schemes = schemeValues(extra["offered_schemes"].([]string))
		}
		a := must(expat.Authenticate(ch, role, req, &expat.Identity{Chain: [][]byte{k.cert}, Signer: k.signer, FirstEntryExtensions: exts}, opts))
		exp := obj{"authenticator": Hex(a)}
		if verifyOnly {
			exp["verify_only"] = true
		}
		authCases = append(authCases, mkCase(name, desc, in, exp))
	}
	addAuth("client-ed25519-with-cmw", "Client answers the server's CertificateRequest with an Ed25519 AIK and a cmw_attestation in the first entry.", s256, ems256, ch256, expat.Client, reqS, keys["ed25519"], "ed25519", []expat.Extension{cmwExt(t, cmwEx)}, false, nil)
	addAuth("server-ed25519-with-cmw", "Server answers the client's ClientCertificateRequest (mutual attestation).", s256, ems256, ch256, expat.Server, reqC, keys["ed25519"], "ed25519", []expat.Extension{cmwExt(t, cmwEx)}, false, nil)
	addAuth("client-ed25519-no-extensions", "Plain RFC 9261 authenticator without attestation.", s256, ems256, ch256, expat.Client, reqS, keys["ed25519"], "ed25519", nil, false, nil)
	addAuth("client-ed25519-sha384-suite", "TLS_AES_256_GCM_SHA384: exporters and transcript use SHA-384 (Go-to-Go TLS never negotiates it).", s384, ems384, ch384, expat.Client, reqS, keys["ed25519"], "ed25519", []expat.Extension{cmwExt(t, cmwEx)}, false, nil)
	addAuth("server-ed25519-spontaneous", "Spontaneous server authenticator: no request, context chosen by the server, scheme from the ClientHello.", s256, ems256, ch256, expat.Server, nil, keys["ed25519"], "ed25519", nil, false, obj{"context": Hex(ctxB), "offered_schemes": []string{"ed25519"}})
	addAuth("client-ecdsa-p256-with-cmw", "ECDSA P-256 (randomised signature): verify-only.", s256, ems256, ch256, expat.Client, reqS, keys["p256"], "ecdsa_secp256r1_sha256", []expat.Extension{cmwExt(t, cmwEx)}, true, nil)
	addAuth("client-ecdsa-p384-sha384-suite", "ECDSA P-384 on a SHA-384 suite: verify-only.", s384, ems384, ch384, expat.Client, reqS384, keys["p384"], "ecdsa_secp384r1_sha384", nil, true, nil)
	addAuth("client-rsa-pss-sha256", "RSA-PSS (rsaEncryption key): verify-only.", s256, ems256, ch256, expat.Client, reqS, keys["rsa"], "rsa_pss_rsae_sha256", nil, true, nil)
	// The same authenticators from the two RFC 9261 exporter outputs instead
	// of the exporter_master_secret (what a peer that cannot reveal the
	// master secret, or a key log without it, can publish).
	exported := func(ch expat.Channel, role string, n int) obj {
		hc := must(ch.Export("EXPORTER-"+role+" authenticator handshake context", nil, n))
		fk := must(ch.Export("EXPORTER-"+role+" authenticator finished key", nil, n))
		return obj{"handshake_context": Hex(hc), "finished_key": Hex(fk)}
	}
	withExported := func(name, desc string, from string, ch expat.Channel, role string, n int) {
		for _, c := range authCases {
			if c.Name != from {
				continue
			}
			var in obj
			if err := json.Unmarshal(c.Inputs, &in); err != nil {
				t.Fatal(err)
			}
			delete(in, "exporter_master_secret")
			authCases = append(authCases, Case{Name: name, Description: desc, Inputs: must(json.Marshal(merge(in, exported(ch, role, n)))), Expected: c.Expected})
		}
	}
	withExported("client-ed25519-with-cmw-exported-inputs", "client-ed25519-with-cmw from handshake_context and finished_key instead of the exporter_master_secret: the same bytes.", "client-ed25519-with-cmw", ch256, "client", 32)
	withExported("server-ed25519-with-cmw-exported-inputs", "server-ed25519-with-cmw from the server's handshake_context and finished_key.", "server-ed25519-with-cmw", ch256, "server", 32)
	withExported("client-ed25519-sha384-suite-exported-inputs", "client-ed25519-sha384-suite from 48-byte handshake_context and finished_key.", "client-ed25519-sha384-suite", ch384, "client", 48)
	authCases = append(authCases,
		mkCase("reject-extension-not-offered", "cmw_attestation in the authenticator although the request did not offer it.",
			merge(commonIn(s256, ems256, "client"), obj{"request": Hex(reqNoCMW.Raw), "certificate_chain": []Hex{keys["ed25519"].cert}, "private_key": Hex(keys["ed25519"].pkcs8), "first_entry_extensions": jext(cmwExt(t, cmwEx)), "signature_scheme": "ed25519"}),
			errExp(expat.ErrExtensionNotOffered)),
		mkCase("reject-no-common-scheme", "The request offers only ECDSA P-384; the key is Ed25519.",
			merge(commonIn(s384, ems384, "client"), obj{"request": Hex(reqS384.Raw), "certificate_chain": []Hex{keys["ed25519"].cert}, "private_key": Hex(keys["ed25519"].pkcs8), "signature_scheme": "ed25519"}),
			errExp(expat.ErrNoCommonScheme)),
	)
	writeVectors(t, "authenticator", authCases)

	// ---- empty-authenticator
	var emptyCases []Case
	for _, c := range []struct {
		name, suite string
		ems         []byte
		ch          expat.Channel
		role        expat.Role
		req         *expat.Request
	}{
		{"client-refuses-certificate-request", s256, ems256, ch256, expat.Client, reqS},
		{"server-refuses-client-certificate-request", s256, ems256, ch256, expat.Server, reqC},
		{"client-refuses-sha384-suite", s384, ems384, ch384, expat.Client, reqS384},
	} {
		a := must(expat.AuthenticateEmpty(c.ch, c.role, c.req))
		emptyCases = append(emptyCases, mkCase(c.name, "Empty authenticator: a lone Finished over handshake context || request || Certificate{request context, empty list}.",
			merge(commonIn(c.suite, c.ems, c.role.String()), obj{"request": Hex(c.req.Raw)}), obj{"authenticator": Hex(a)}))
	}
	writeVectors(t, "empty-authenticator", emptyCases)

	// ---- validate: positives and a named negative corpus
	ed := keys["ed25519"]
	good := must(expat.Authenticate(ch256, expat.Client, reqS, &expat.Identity{Chain: [][]byte{ed.cert}, Signer: ed.signer, FirstEntryExtensions: []expat.Extension{cmwExt(t, cmwEx)}}, nil))
	msgs := splitMsgs(good)
	cert, cv, fin := msgs[0], msgs[1], msgs[2]
	forge := func(certMsg []byte, k crypto.Signer, scheme expat.SignatureScheme) Hex {
		return must(expattest.Assemble(ch256, expat.Client, reqS, certMsg, k, scheme, nil))
	}
	entry := func(der []byte, exts ...expat.Extension) expattest.Entry {
		return expattest.Entry{Certificate: der, Extensions: exts}
	}
	certWith := func(ctx []byte, es ...expattest.Entry) []byte {
		return must(expattest.Certificate(ctx, es...))
	}
	flip := func(b []byte, i int) Hex { c := bytes.Clone(b); c[i] ^= 1; return c }
	cat := func(parts ...[]byte) Hex { return bytes.Join(parts, nil) }
	vin := func(a Hex) obj {
		return merge(commonIn(s256, ems256, "client"), obj{"request": Hex(reqS.Raw), "authenticator": a})
	}
	empty := must(expat.AuthenticateEmpty(ch256, expat.Client, reqS))
	serverAuth := must(expat.Authenticate(ch256, expat.Server, reqC, &expat.Identity{Chain: [][]byte{ed.cert}, Signer: ed.signer, FirstEntryExtensions: []expat.Extension{cmwExt(t, cmwEx)}}, nil))
	var vcases []Case
	vcases = append(vcases,
		mkCase("accept-client-authenticator-with-cmw", "Returns the chain and the CMW of the first entry.", vin(Hex(good)),
			obj{"certificate_chain": []Hex{ed.cert}, "cmw": Hex(cmwEx), "signature_scheme": "ed25519"}),
		mkCase("accept-server-authenticator-with-cmw", "Mutual attestation: the client validates the server's answer to its ClientCertificateRequest.",
			merge(commonIn(s256, ems256, "server"), obj{"request": Hex(reqC.Raw), "authenticator": Hex(serverAuth)}),
			obj{"certificate_chain": []Hex{ed.cert}, "cmw": Hex(cmwEx), "signature_scheme": "ed25519"}),
	)
	vinExported := func(a Hex) obj {
		in := merge(obj{"cipher_suite": s256, "role": "client", "request": Hex(reqS.Raw), "authenticator": a}, exported(ch256, "client", 32))
		return in
	}
	vcases = append(vcases, mkCase("accept-client-authenticator-exported-inputs", "accept-client-authenticator-with-cmw validated from handshake_context and finished_key alone.", vinExported(Hex(good)),
		obj{"certificate_chain": []Hex{ed.cert}, "cmw": Hex(cmwEx), "signature_scheme": "ed25519"}))
	wrongFK := vinExported(Hex(good))
	wrongFK["finished_key"] = Hex(bytes.Repeat([]byte{0xfe}, 32))
	wrongHC := vinExported(Hex(good))
	wrongHC["handshake_context"] = Hex(bytes.Repeat([]byte{0xfe}, 32))
	vcases = append(vcases,
		mkCase("reject-wrong-finished-key-input", "The right handshake_context, another finished_key: the Finished MAC fails.", wrongFK, errExp(expat.ErrBadFinished)),
		mkCase("reject-wrong-handshake-context-input", "Another handshake_context: the CertificateVerify transcript differs, so the signature fails first.", wrongHC, errExp(expat.ErrBadSignature)))
	neg := []struct {
		name, desc string
		want       *expat.Error
		in         obj
	}{
		{"empty-authenticator-is-refusal", "A valid empty authenticator is a refusal, never success.", expat.ErrEmptyAuthenticator, vin(Hex(empty))},
		{"relayed-from-another-connection", "Authenticator made on another connection (different exporter_master_secret).", expat.ErrBadSignature,
			merge(vin(Hex(good)), obj{"exporter_master_secret": Hex(bytes.Repeat([]byte{0x77}, 32))})},
		{"validated-against-another-request", "Authenticator answers a different request (context mismatch).", expat.ErrContextMismatch,
			merge(vin(Hex(good)), obj{"request": Hex(must(expat.EncodeRequest(expat.Server, ctxB, []expat.Extension{sigalgs, cmwOffer}, 0)).Raw)})},
		{"wrong-sender-role", "Client-made authenticator validated as if the server made it.", expat.ErrWrongDirection, merge(vin(Hex(good)), obj{"role": "server"})},
		{"client-authenticator-without-request", "Clients must not send spontaneous authenticators.", expat.ErrMissingRequest,
			merge(commonIn(s256, ems256, "client"), obj{"authenticator": Hex(good)})},
		{"bad-signature", "One bit flipped in the CertificateVerify signature.", expat.ErrBadSignature, vin(flip(good, len(cert)+len(cv)-5))},
		{"bad-finished", "One bit flipped in Finished.", expat.ErrBadFinished, vin(flip(good, len(good)-1))},
		{"trailing-data", "A byte after Finished.", expat.ErrTrailingData, vin(cat(good, []byte{0}))},
		{"truncated", "Authenticator cut in the middle of Finished.", expat.ErrBadLength, vin(Hex(good[:len(good)-3]))},
		{"wrong-order", "CertificateVerify before Certificate.", expat.ErrUnexpectedMessage, vin(cat(cv, cert, fin))},
		{"missing-certificate-verify", "Certificate followed directly by Finished.", expat.ErrUnexpectedMessage, vin(cat(cert, fin))},
		{"request-instead-of-authenticator", "A handshake message of the wrong type.", expat.ErrUnexpectedMessage, vin(Hex(reqS.Raw))},
		{"context-mismatch", "Certificate carries another context (correctly signed).", expat.ErrContextMismatch, vin(forge(certWith(ctxB, entry(ed.cert, cmwExt(t, cmwEx))), ed.signer, expat.Ed25519))},
		{"empty-certificate-list", "Certificate with no entries but a CertificateVerify.", expat.ErrEmptyCertificate, vin(forge(certWith(ctxA), ed.signer, expat.Ed25519))},
		{"empty-cert-data", "A CertificateEntry with zero-length cert_data.", expat.ErrBadLength, vin(forge(certWith(ctxA, entry(nil)), ed.signer, expat.Ed25519))},
		{"not-x509", "cert_data is not a certificate.", expat.ErrBadCertificate, vin(forge(certWith(ctxA, entry([]byte{0x30, 0x03, 1, 2, 3})), ed.signer, expat.Ed25519))},
		{"extension-not-offered", "status_request in the entry although not requested.", expat.ErrExtensionNotOffered, vin(forge(certWith(ctxA, entry(ed.cert, expat.Extension{Type: expat.ExtStatusRequest})), ed.signer, expat.Ed25519))},
		{"cmw-not-in-first-entry", "cmw_attestation in the second CertificateEntry.", expat.ErrCMWNotFirstEntry, vin(forge(certWith(ctxA, entry(ed.cert), entry(ed.cert, cmwExt(t, cmwEx))), ed.signer, expat.Ed25519))},
		{"duplicate-extension", "cmw_attestation twice in the first entry.", expat.ErrDuplicateExtension, vin(forge(certWith(ctxA, entry(ed.cert, cmwExt(t, cmwEx), cmwExt(t, cmwEx))), ed.signer, expat.Ed25519))},
		{"cmw-single-length-prefix", "cmw_data without its own uint16 length (a common interop bug).", expat.ErrCMWMalformed, vin(forge(certWith(ctxA, entry(ed.cert, expat.Extension{Type: expat.DefaultCMWExtensionType, Data: cmwEx})), ed.signer, expat.Ed25519))},
		{"cmw-empty", "cmw_data<1..2^16-1> of length zero.", expat.ErrCMWMalformed, vin(forge(certWith(ctxA, entry(ed.cert, expat.Extension{Type: expat.DefaultCMWExtensionType, Data: []byte{0, 0}})), ed.signer, expat.Ed25519))},
		{"scheme-not-offered", "CertificateVerify uses ECDSA P-256 although the request offers only Ed25519.", expat.ErrSchemeNotOffered,
			func() obj {
				r := must(expat.EncodeRequest(expat.Server, ctxA, []expat.Extension{{Type: expat.ExtSignatureAlgorithms, Data: mustHex("00020807")}, cmwOffer}, 0))
				a := must(expattest.Assemble(ch256, expat.Client, r, certWith(ctxA, entry(keys["p256"].cert)), keys["p256"].signer, expat.ECDSAWithP256AndSHA256, nil))
				return merge(commonIn(s256, ems256, "client"), obj{"request": Hex(r.Raw), "authenticator": Hex(a)})
			}()},
		{"scheme-key-mismatch", "CertificateVerify claims ECDSA P-256 over an Ed25519 certificate.", expat.ErrSchemeKeyMismatch, vin(forge(cert, keys["p256"].signer, expat.ECDSAWithP256AndSHA256))},
		{"signed-by-another-key", "CertificateVerify made with a key other than the certificate's.", expat.ErrBadSignature, vin(forge(cert, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)), expat.Ed25519))},
	}
	for _, n := range neg {
		vcases = append(vcases, mkCase("reject-"+n.name, n.desc, n.in, errExp(n.want)))
	}
	writeVectors(t, "validate", vcases)

	// ---- binder
	var bcases []Case
	addBinder := func(name, desc, suite string, ems []byte, ch expat.Channel, profile, label string, k *vkey) {
		p := must(binderProfile(profile, label))
		in := merge(commonIn(suite, ems, "client"), obj{"context": Hex(ctxA)})
		delete(in, "role")
		var spki []byte
		if k != nil {
			spki = must(x509.ParseCertificate(k.cert)).RawSubjectPublicKeyInfo
			in["spki"] = Hex(spki)
		}
		if profile != "" {
			in["profile"] = profile
		}
		if label != "" {
			in["label"] = label
		}
		b := must(p.Binder(ch, ctxA, spki))
		exp := obj{"exported": Hex(b.Exported), "binding": Hex(b.Binding), "report_data": Hex(b.ReportData[:])}
		if b.AIKPubHash != nil {
			exp["aik_pub_hash"] = Hex(b.AIKPubHash)
		}
		bcases = append(bcases, mkCase(name, desc, in, exp))
	}
	ed, p256, p384 := keys["ed25519"], keys["p256"], keys["p384"]
	const legacy = "REPORTDATA per the seatrx layout with the label Attestation (no profile named: the meaning of binder cases written before profiles)."
	addBinder("sha256-suite-ed25519-aik", legacy, s256, ems256, ch256, "", "", &ed)
	addBinder("sha256-suite-p256-aik", legacy, s256, ems256, ch256, "", "", &p256)
	addBinder("sha384-suite-hashed-layout", legacy, s384, ems384, ch384, "", "", &p384)
	addBinder("label-attestation-binding-compat", "The seatrx layout with the label Attestation Binding (-03 §4's reading; no profile uses it).", s256, ems256, ch256, "", "Attestation Binding", &ed)
	for _, c := range []struct {
		name, desc, suite string
		ems               []byte
		ch                expat.Channel
		profile, label    string
		k                 *vkey
	}{
		{"expat-04-sha256-ed25519", "expat-04 (default): label EXPORTER-cmw-attestation, REPORTDATA = binding || aik_pub_hash.", s256, ems256, ch256, "expat-04", "", &ed},
		{"expat-04-sha256-p256", "expat-04 with a P-256 AIK (cross-checked against the interop note's independent computation).", s256, ems256, ch256, "expat-04", "", &p256},
		{"expat-04-sha384-hashed-layout", "expat-04 on a SHA-384 suite: REPORTDATA = SHA-512(binding || aik_pub_hash).", s384, ems384, ch384, "expat-04", "", &p384},
		{"expat-03-sha256-p256", "expat-03: label Attestation, otherwise as expat-04.", s256, ems256, ch256, "expat-03", "", &p256},
		{"expat-03-sha384-hashed-layout", "expat-03 on a SHA-384 suite.", s384, ems384, ch384, "expat-03", "", &p384},
		{"cocos-sha256-p256", "cocos: label Attestation, REPORTDATA = SHA-512(binding).", s256, ems256, ch256, "cocos", "", &p256},
		{"cocos-sha256-ed25519", "cocos with an Ed25519 AIK.", s256, ems256, ch256, "cocos", "", &ed},
		{"cocos-sha384", "cocos on a SHA-384 suite: binding is 48 bytes, REPORTDATA still SHA-512(binding).", s384, ems384, ch384, "cocos", "", &p384},
		{"rust-ref-attestation-binding", "rust-ref: 64-byte export with label Attestation Binding (issue 9; UNCONFIRMED in the Rust code), REPORTDATA = exported; no key bound.", s256, ems256, ch256, "rust-ref", "", nil},
		{"rust-ref-code-label", "rust-ref with the label its stored code actually uses: \"label\".", s256, ems256, ch256, "rust-ref", "label", nil},
	} {
		addBinder(c.name, c.desc, c.suite, c.ems, c.ch, c.profile, c.label, c.k)
	}
	writeVectors(t, "binder", bcases)
}

func splitMsgs(a []byte) [][]byte {
	var out [][]byte
	for len(a) >= 4 {
		n := 4 + (int(a[1])<<16 | int(a[2])<<8 | int(a[3]))
		out = append(out, a[:n])
		a = a[n:]
	}
	return out
}
