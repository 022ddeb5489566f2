package conformance

import (
	"crypto/x509"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/tlsbind"
)

var updateDTLS = flag.Bool("update-dtls", false, "rewrite the dtls13-* cases of binder.json and authenticator.json (the other cases are kept as they are)")

// dtlsNote says, in every DTLS case, what differs from TLS 1.3 and what not.
const dtlsNote = ` DTLS 1.3 (transport "dtls"): the exporter is RFC 8446 §7.5's with HKDF-Expand-Label's prefix "dtls13" instead of "tls13 " (RFC 9147 §5.9), so every exported value differs from the TLS case with the same exporter_master_secret; labels, context, lengths, the binder formula, REPORTDATA layout and message encoding do not differ.`

// dtlsCases are the DTLS 1.3 vectors: the TLS cases' inputs on a DTLS
// channel.
func dtlsCases(t *testing.T) (binder, auth []Case) {
	keys := genKeys(t)
	const s256, s384 = "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"
	d256 := must(expat.NewOfflineDTLSChannel(0x1301, ems256))
	d384 := must(expat.NewOfflineDTLSChannel(0x1302, ems384))
	ed, p384 := keys["ed25519"], keys["p384"]
	for _, c := range []struct {
		name, desc, suite string
		ems               []byte
		ch                expat.Channel
		k                 vkey
	}{
		{"dtls13-expat-04-sha256-ed25519", "expat-04 on DTLS 1.3; the same inputs as expat-04-sha256-ed25519.", s256, ems256, d256, ed},
		{"dtls13-expat-04-sha384-hashed-layout", "expat-04 on DTLS 1.3, SHA-384 suite; the same inputs as expat-04-sha384-hashed-layout.", s384, ems384, d384, p384},
	} {
		p, _ := tlsbind.LookupProfile(tlsbind.ProfileExpat04)
		spki := must(x509.ParseCertificate(c.k.cert)).RawSubjectPublicKeyInfo
		b := must(p.Binder(c.ch, ctxA, spki))
		in := merge(commonIn(c.suite, c.ems, "client"), obj{"transport": "dtls", "context": Hex(ctxA), "spki": Hex(spki), "profile": p.ID})
		delete(in, "role")
		exp := obj{"exported": Hex(b.Exported), "binding": Hex(b.Binding), "report_data": Hex(b.ReportData[:]), "aik_pub_hash": Hex(b.AIKPubHash)}
		binder = append(binder, mkCase(c.name, c.desc+dtlsNote, in, exp))
	}
	sigalgs := expat.Extension{Type: expat.ExtSignatureAlgorithms, Data: mustHex("000a0807040305030804" + "0805")}
	reqS := must(expat.EncodeRequest(expat.Server, ctxA, []expat.Extension{sigalgs, {Type: expat.DefaultCMWExtensionType}}, 0))
	cmw := must(expat.CMWExtension(0, cmwEx))
	a := must(expat.Authenticate(d256, expat.Client, reqS, &expat.Identity{Chain: [][]byte{ed.cert}, Signer: ed.signer, FirstEntryExtensions: []expat.Extension{cmw}}, &expat.AuthOptions{}))
	in := merge(commonIn(s256, ems256, "client"), obj{"transport": "dtls", "request": Hex(reqS.Raw), "certificate_chain": []Hex{ed.cert},
		"private_key": Hex(ed.pkcs8), "first_entry_extensions": []JSONExtension{{Type: cmw.Type, Data: cmw.Data}}, "signature_scheme": "ed25519"})
	auth = append(auth, mkCase("dtls13-client-ed25519-with-cmw", "client-ed25519-with-cmw on DTLS 1.3: the same request, key and extensions; the handshake context and finished key come from the DTLS exporter, so CertificateVerify and Finished differ."+dtlsNote, in, obj{"authenticator": Hex(a)}))
	return binder, auth
}

func TestGenerateDTLSVectors(t *testing.T) {
	if !*updateDTLS {
		t.Skip("run with -update-dtls to rewrite the DTLS cases")
	}
	binder, auth := dtlsCases(t)
	for kind, add := range map[string][]Case{"binder": binder, "authenticator": auth} {
		f := must(LoadFile(filepath.Join("vectors", kind+".json")))
		var keep []Case
		for _, c := range f.Cases {
			if !strings.HasPrefix(c.Name, "dtls13-") {
				keep = append(keep, c)
			}
		}
		f.Cases = append(keep, add...)
		out := must(json.MarshalIndent(f, "", "  "))
		if err := os.WriteFile(filepath.Join("vectors", kind+".json"), append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The DTLS cases in the files are what the generator makes now, and differ
// from the TLS cases with the same inputs.
func TestDTLSVectorsCurrent(t *testing.T) {
	binder, auth := dtlsCases(t)
	for kind, want := range map[string][]Case{"binder": binder, "authenticator": auth} {
		f := must(LoadFile(filepath.Join("vectors", kind+".json")))
		got := map[string]Case{}
		for _, c := range f.Cases {
			got[c.Name] = c
		}
		for _, w := range want {
			g, ok := got[w.Name]
			if !ok || !sameJSON(g.Expected, w.Expected) || !sameJSON(g.Inputs, w.Inputs) {
				t.Errorf("%s.json: case %s missing or stale (go test ./conformance -run TestGenerateDTLSVectors -update-dtls)", kind, w.Name)
			}
		}
	}
	b := must(LoadFile(filepath.Join("vectors", "binder.json")))
	byName := map[string]Case{}
	for _, c := range b.Cases {
		byName[c.Name] = c
	}
	if d, tl := byName["dtls13-expat-04-sha256-ed25519"], byName["expat-04-sha256-ed25519"]; sameJSON(d.Expected, tl.Expected) {
		t.Fatal("the DTLS binder equals the TLS one: the label prefix was not applied")
	}
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
