package conformance

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-sev-guest/abi"
	"github.com/google/uuid"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/cocos"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/rustref"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/tlsbind"
)

func prof(id string) tlsbind.Profile {
	p, ok := tlsbind.LookupProfile(id)
	if !ok {
		panic("no profile " + id)
	}
	return p
}

func errCode(err error) obj {
	if err == nil {
		panic("expected a failure")
	}
	return obj{"error": problemCode(err)}
}

// TestGenerateInteropVectors writes the interop vector files (report-data,
// attestation, cmw, cocos-payload) when run with -update:
//
//	go test ./conformance -run TestGenerateInteropVectors -update
//
// report-data and cocos-payload are byte-stable; attestation and cmw carry
// fresh keys, signatures and a freshly generated simulated PKI each time.
func TestGenerateInteropVectors(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate the vector files")
	}
	keys := genKeys(t)
	genReportData(t, keys)
	genAttestation(t)
	genCMW(t)
	genCocosPayload(t)
}

func genReportData(t *testing.T, keys map[string]vkey) {
	const s256, s384 = "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"
	ch256, ch384 := chanOf(t, 0x1301, ems256), chanOf(t, 0x1302, ems384)
	spki := func(k vkey) []byte { return must(x509.ParseCertificate(k.cert)).RawSubjectPublicKeyInfo }
	p256, ed, p384 := spki(keys["p256"]), spki(keys["ed25519"]), spki(keys["p384"])
	rd := func(p tlsbind.Profile, ch expat.Channel, crc, spki []byte) [64]byte {
		return must(p.Binder(ch, crc, spki)).ReportData
	}
	var cases []Case
	add := func(name, desc, suite string, ems []byte, key []byte, accept []string, got [64]byte, exp obj) {
		in := merge(commonIn(suite, ems, ""), obj{"context": Hex(ctxA), "report_data": Hex(got[:])})
		delete(in, "role")
		if key != nil {
			in["spki"] = Hex(key)
		}
		if accept != nil {
			in["accept"] = accept
		}
		cases = append(cases, mkCase(name, desc, in, exp))
	}
	check := func(ch expat.Channel, key []byte, accept []string, got [64]byte) obj {
		p, err := tlsbind.CheckReportData(ch, ctxA, key, got, must(accepted(accept)))
		if err != nil {
			return errCode(err)
		}
		return obj{"profile": p.ID}
	}
	e04, e03, co, rr := prof("expat-04"), prof("expat-03"), prof("cocos"), prof("rust-ref")
	rrCode := rr
	rrCode.Label = tlsbind.LabelRustRefCode
	aikOnly := rd(e04, ch256, ctxA, p256)
	other := rd(e04, ch256, ctxA, ed)
	copy(aikOnly[32:], other[32:])
	for _, c := range []struct {
		name, desc, suite string
		ems               []byte
		ch                expat.Channel
		key               []byte
		accept            []string
		got               [64]byte
	}{
		{"accept-expat-04", "REPORTDATA of the expat-04 binder (binder.json expat-04-sha256-p256) at a relying party accepting expat-04 (the default).", s256, ems256, ch256, p256, nil, rd(e04, ch256, ctxA, p256)},
		{"accept-expat-03-among-two", "An expat-03 peer at a relying party accepting expat-04 and expat-03: the REPORTDATA says which.", s256, ems256, ch256, p256, []string{"expat-04", "expat-03"}, rd(e03, ch256, ctxA, p256)},
		{"accept-cocos", "cocos: SHA-512(binding) (the interop note's independently computed 23cfaf02...).", s256, ems256, ch256, p256, []string{"cocos"}, rd(co, ch256, ctxA, p256)},
		{"accept-rust-ref", "rust-ref: the 64-byte export itself; no key is bound, so no spki is given.", s256, ems256, ch256, nil, []string{"rust-ref"}, rd(rr, ch256, ctxA, nil)},
		{"accept-expat-04-sha384", "expat-04 on a SHA-384 suite: SHA-512(binding || aik_pub_hash).", s384, ems384, ch384, p384, nil, rd(e04, ch384, ctxA, p384)},
		{"reject-another-connection", "This key's aik_pub_hash, another request context (another connection, or a replay): attest.binding_connection.", s256, ems256, ch256, p256, nil, rd(e04, ch256, ctxB, p256)},
		{"reject-another-key", "This connection, another authenticator key: REPORTDATA's aik_pub_hash is another key's, and seatrx looks at aik_pub_hash first (draft-04 §5.2 puts it in the evidence to say which key), so attest.binding_key.", s256, ems256, ch256, p256, nil, other},
		{"reject-aik-pub-hash-of-another-key", "This connection's binding with another key's aik_pub_hash: the aik_pub_hash alone decides, attest.binding_key.", s256, ems256, ch256, p256, nil, aikOnly},
		{"reject-expat-03-at-expat-04", "An expat-03 peer (label Attestation) at an expat-04 relying party: a profile mismatch, not a relay.", s256, ems256, ch256, p256, nil, rd(e03, ch256, ctxA, p256)},
		{"reject-cocos-layout-at-expat-04", "cocos's REPORTDATA at an expat-04 relying party: a profile mismatch, not a relay.", s256, ems256, ch256, p256, nil, rd(co, ch256, ctxA, p256)},
		{"reject-rust-ref-code-label", "The rust-ref layout with the label its stored code uses (\"label\") at a relying party expecting \"Attestation Binding\": a profile mismatch naming the variant.", s256, ems256, ch256, nil, []string{"rust-ref"}, rd(rrCode, ch256, ctxA, nil)},
		{"reject-sha384-another-connection", "SHA-384 suite, another context: the hashed layout cannot say which part differs (attest.binding_report_data).", s384, ems384, ch384, p384, nil, rd(e04, ch384, ctxB, p384)},
		{"reject-cocos-another-connection", "cocos, another context: SHA-512(binding) cannot say which part differs (attest.binding_report_data; the attestation kind shows how cocos's payload binder refines this).", s256, ems256, ch256, p256, []string{"cocos"}, rd(co, ch256, ctxB, p256)},
		{"reject-rust-ref-another-connection", "rust-ref, another context: the export differs (attest.binding_connection).", s256, ems256, ch256, nil, []string{"rust-ref"}, rd(rr, ch256, ctxB, nil)},
	} {
		add(c.name, c.desc, c.suite, c.ems, c.key, c.accept, c.got, check(c.ch, c.key, c.accept, c.got))
	}
	writeVectors(t, KindReportData, cases)
}

// attestCase is one authenticator made for the attestation vectors.
type attestCase struct {
	name, desc string
	suite      string
	accept     []string
	client     tlsbind.Profile // the profile the attester used
	attester   evidence.Attester
	// bind, if set, makes the evidence's binder instead of the honest one
	// (the authenticator stays valid): relay and other-key cases.
	bind func(p tlsbind.Profile, ch expat.Channel, crc, spki []byte) *tlsbind.Binder
}

func genAttestation(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(24 * time.Hour)
	pki := must(sim.Generate(t0))
	otherPKI := must(sim.Generate(t0))
	snpA := evidence.NewSNPAttester(pki.SNP.Guest(sim.SNPGuestConfig{}))
	tdxA := evidence.NewTDXAttester(pki.TDX.Guest(sim.TDXGuestConfig{}))
	otherKey := newVKey(t, must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)))
	otherSPKI := must(x509.ParseCertificate(otherKey.cert)).RawSubjectPublicKeyInfo
	otherCh := chanOf(t, 0x1301, bytes.Repeat([]byte{0x77}, 32))
	relay := func(p tlsbind.Profile, _ expat.Channel, _, spki []byte) *tlsbind.Binder {
		return must(p.Binder(otherCh, ctxB, spki)) // this key, another connection and context
	}
	forKey := func(p tlsbind.Profile, ch expat.Channel, crc, _ []byte) *tlsbind.Binder {
		return must(p.Binder(ch, crc, otherSPKI)) // this connection, another key
	}
	aikOnly := func(p tlsbind.Profile, ch expat.Channel, crc, spki []byte) *tlsbind.Binder {
		b := must(p.Binder(ch, crc, spki))
		o := must(p.Binder(ch, crc, otherSPKI))
		copy(b.ReportData[len(b.Binding):], o.AIKPubHash)
		return b
	}
	const s256, s384 = "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"
	all := []string{"expat-04", "expat-03", "cocos", "rust-ref"}
	e04, e03, co, rr := prof("expat-04"), prof("expat-03"), prof("cocos"), prof("rust-ref")
	cs := []attestCase{
		{"expat-04-snp", "expat-04, simulated SEV-SNP: background check passes.", s256, nil, e04, snpA, nil},
		{"expat-04-tdx", "expat-04, simulated TDX.", s256, nil, e04, tdxA, nil},
		{"expat-04-sha384-suite", "expat-04 on TLS_AES_256_GCM_SHA384 (hashed REPORTDATA layout).", s384, nil, e04, snpA, nil},
		{"expat-03-snp", "expat-03 (label Attestation).", s256, []string{"expat-03"}, e03, snpA, nil},
		{"cocos-snp", "cocos: JSON payload, EAT, go-sev-guest Attestation protobuf rebuilt into the signed report.", s256, []string{"cocos"}, co, snpA, nil},
		{"cocos-tdx", "cocos with a TDX quote in raw_report.", s256, []string{"cocos"}, co, tdxA, nil},
		{"rust-ref-tdx", "rust-ref: [type, quote] record at codepoint 0xFFFF, REPORTDATA = 64-byte export.", s256, []string{"rust-ref"}, rr, tdxA, nil},
		{"cocos-among-all-profiles", "A relying party accepting all four profiles (the request offers 0xFF00 and 0xFFFF) takes a cocos attester.", s256, all, co, tdxA, nil},
		{"rust-ref-evidence-for-another-key-passes", "rust-ref binds no key: evidence made on this connection for another key verifies. A weakness of the profile, shown on purpose.", s256, []string{"rust-ref"}, rr, tdxA, forKey},
		{"reject-evidence-from-another-connection", "A valid authenticator whose evidence carries the REPORTDATA of another connection (same key): a relay. Other implementations often skip this check.", s256, nil, e04, snpA, relay},
		{"reject-evidence-for-another-key", "A valid authenticator whose evidence was made on this connection for another key: its aik_pub_hash is another key's (attest.binding_key).", s256, nil, e04, snpA, forKey},
		{"reject-aik-pub-hash-of-another-key", "Evidence whose REPORTDATA has this connection's binding but another key's aik_pub_hash: attest.binding_key.", s256, nil, e04, tdxA, aikOnly},
		{"reject-cocos-evidence-from-another-connection", "cocos: evidence and payload binder from another connection; the payload binder, agreeing with the evidence, carries this key's aik_pub_hash, so seatrx says binding_connection.", s256, []string{"cocos"}, co, snpA, relay},
		{"reject-cocos-evidence-for-another-key", "cocos: evidence and payload binder made for another key on this connection; the payload binder agrees with the evidence, and its aik_pub_hash is another key's (attest.binding_key).", s256, []string{"cocos"}, co, tdxA, forKey},
		{"reject-rust-ref-evidence-from-another-connection", "rust-ref: the export of another connection.", s256, []string{"rust-ref"}, rr, tdxA, relay},
		{"reject-expat-03-at-expat-04", "An expat-03 attester at an expat-04 relying party: attest.profile_mismatch, not a relay.", s256, nil, e03, snpA, nil},
		{"reject-cocos-at-expat-04", "A cocos attester at an expat-04 relying party: its cmw_data is cocos's JSON (attest.profile_mismatch).", s256, nil, co, snpA, nil},
		{"reject-debug-guest", "A debug SEV-SNP guest: the default policy refuses it (snp.debug).", s256, nil, e04, evidence.NewSNPAttester(pki.SNP.Guest(sim.SNPGuestConfig{Debug: true})), nil},
		{"reject-untrusted-root", "Evidence of another simulated PKI than the vector's roots (snp.trust_anchor).", s256, nil, e04, evidence.NewSNPAttester(otherPKI.SNP.Guest(sim.SNPGuestConfig{})), nil},
	}
	roots := obj{
		"snp_roots": obj{"product": pki.SNP.Product(), "ark": Hex(pki.SNP.ARK().Raw), "ask": Hex(pki.SNP.ASK().Raw)},
		"tdx_root":  Hex(pki.TDX.Roots().Certificates()[0].Raw),
	}
	var out []Case
	for _, c := range cs {
		suite, ems := uint16(0x1301), ems256
		if c.suite == s384 {
			suite, ems = 0x1302, ems384
		}
		ch := chanOf(t, suite, ems)
		acc := must(accepted(c.accept))
		sigalgs := expat.Extension{Type: expat.ExtSignatureAlgorithms, Data: mustHex("000a0807040305030804" + "0805")}
		exts := []expat.Extension{sigalgs}
		var cps []uint16
		for _, p := range acc {
			if !slicesContains(cps, p.CMWType) {
				cps = append(cps, p.CMWType)
				exts = append(exts, expat.Extension{Type: p.CMWType})
			}
		}
		req := must(expat.EncodeRequest(expat.Server, ctxA, exts, acc[0].CMWType))
		clientReq := must(expat.ParseRequest(req.Raw, expat.Server, c.client.CMWType))
		k := newVKey(t, must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)))
		spki := must(x509.ParseCertificate(k.cert)).RawSubjectPublicKeyInfo
		b := must(c.client.Binder(ch, ctxA, spki))
		if c.bind != nil {
			b = c.bind(c.client, ch, ctxA, spki)
		}
		cmw := must(c.attester.Attest(context.Background(), b.ReportData))
		data := must(c.client.CMWData(cmw, b))
		ext := must(expat.CMWExtension(c.client.CMWType, data))
		auth := must(expat.Authenticate(ch, expat.Client, clientReq, &expat.Identity{Chain: [][]byte{k.cert}, Signer: k.signer, FirstEntryExtensions: []expat.Extension{ext}}, nil))
		in := merge(commonIn(c.suite, ems, "client"), obj{"request": Hex(req.Raw), "authenticator": Hex(auth), "now": now.Unix()})
		merge(in, roots)
		if c.accept != nil {
			in["accept"] = c.accept
		}
		var i attestationInputs
		if err := decodeStrict(must(json.Marshal(in)), &i); err != nil {
			t.Fatal(err)
		}
		var exp obj
		if res, err := i.check(); err != nil {
			exp = errCode(err)
		} else {
			o := attestationOutputs(res)
			exp = obj{"profile": o.Profile, "model": o.Model, "platform": o.Platform, "binding": o.Binding, "report_data": o.ReportData}
		}
		out = append(out, mkCase(c.name, c.desc, in, exp))
	}
	writeVectors(t, KindAttestation, out)
}

func slicesContains(s []uint16, v uint16) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func genCMW(t *testing.T) {
	report := must(os.ReadFile("../evidence/snp/testdata/attestation.bin"))
	vcek := must(os.ReadFile("../evidence/snp/testdata/vcek.testcer"))
	quote := must(os.ReadFile("../evidence/tdx/testdata/tdx_prod_quote_SPR_E4.dat"))
	coll := must(must(tdx.LoadCollateral("../evidence/tdx/testdata/collateral-2023")).MarshalJSON())
	table := (&abi.CertTable{Entries: []abi.CertTableEntry{{GUID: uuid.MustParse(abi.VcekGUID), RawCert: vcek}}}).Marshal()
	earKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	iss := must(ear.NewIssuer(earKey, "seatrx", "conformance"))
	jwt := must(iss.Issue(ear.Claims{Submod: "sev-snp", Status: "affirming", Nonce: bytes.Repeat([]byte{0xb0}, 32), IssuedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}))
	snpDec := &evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformSNP, Evidence: report, Endorsements: table}
	tdxDec := &evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformTDX, Evidence: quote}
	cocosData := func(d *evidence.Decoded, pt string) []byte {
		e := must(cocos.NewEAT(d, bytes.Repeat([]byte{0x49}, 32)))
		if pt != "" {
			e.PlatformType = pt
		}
		signed := must(e.Sign(must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)))
		h := bytes.Repeat([]byte{0x5a}, 32)
		return must((&cocos.Payload{Version: 1, MediaType: cocos.MediaTypeEAT, Evidence: signed, Binder: cocos.Binder{ExporterLabel: "Attestation", AIKPubHash: h, Binding: h}}).Marshal())
	}
	em := must(cbor.CoreDetEncOptions().EncMode())
	cborOf := func(v any) []byte { return must(em.Marshal(v)) }
	var cases []Case
	add := func(name, desc, profile string, data []byte) {
		in := obj{"cmw_data": Hex(data)}
		if profile != "" {
			in["profile"] = profile
		}
		var exp obj
		acc := must(accepted(optional(profile)))
		car, err := acc[0].OpenCMWData(data)
		if err != nil {
			exp = errCode(err)
		} else {
			d := car.Evidence
			exp = obj{"kind": string(d.Kind)}
			for k, v := range map[string]Hex{"evidence_sha256": sha(d.Evidence), "endorsements_sha256": sha(d.Endorsements), "ear_sha256": sha(d.EAR)} {
				if v != nil {
					exp[k] = v
				}
			}
			if d.Platform != "" {
				exp["platform"] = string(d.Platform)
			}
		}
		cases = append(cases, mkCase(name, desc, in, exp))
	}
	add("snp-report-with-cert-table", "Background check, SEV-SNP: CBOR CMW collection (seatrx/cmw/v1) with the real Milan report under \"evidence\" and a GHCB certificate table holding its VCEK under \"endorsements\".", "", must(evidence.EncodeSNP(report, table)))
	add("snp-report-alone", "SEV-SNP without endorsements: the verifier must have or fetch the VCEK.", "", must(evidence.EncodeSNP(report, nil)))
	add("tdx-quote", "Background check, TDX: the real SPR quote (v4, PCK chain inside) under \"evidence\".", "", must(evidence.EncodeTDX(quote, nil)))
	add("tdx-quote-with-collateral", "TDX quote with Intel PCS collateral as application/vnd.intel.tdx.collateral+json under \"endorsements\".", "", must(evidence.EncodeTDX(quote, coll)))
	add("passport-ear-record", "Passport model: a bare CMW record carrying an EAR JWT (indicator attestation-results).", "", must(evidence.EncodeEAR(jwt)))
	add("cocos-snp-payload", "cocos: JSON payload whose evidence is an EAT (COSE_Sign1) whose raw_report is a go-sev-guest Attestation protobuf of the real Milan report; evidence_sha256 is of the report rebuilt from it, which equals the original.", "cocos", cocosData(snpDec, ""))
	add("cocos-tdx-payload", "cocos with the real TDX quote as raw_report.", "cocos", cocosData(tdxDec, ""))
	add("rust-ref-tdx-record", "rust-ref: a CBOR [type, quote] record with the Rust reference code's TDX media type.", "rust-ref", must(rustref.Encode(quote)))

	col := func(ctype string, items map[string]any) []byte { // a hand-built collection
		m := map[any]any{"__cmwc_t": ctype}
		for k, v := range items {
			m[k] = v
		}
		return cborOf(m)
	}
	rec := func(mt string, v []byte) []any { return []any{mt, v} }
	add("reject-unknown-collection-label", "A collection label other than evidence and endorsements (cmw.format).", "", col(evidence.CollectionType, map[string]any{"evidence": rec(evidence.MediaTypeSNPReport, report), "extra": rec(evidence.MediaTypeSNPCertTable, table)}))
	add("reject-endorsements-without-evidence", "A collection with endorsements only (cmw.format).", "", col(evidence.CollectionType, map[string]any{"endorsements": rec(evidence.MediaTypeSNPCertTable, table)}))
	add("reject-other-collection-type", "A collection whose __cmwc_t is not seatrx's (cmw.format).", "", col("tag:example.com,2026:other", map[string]any{"evidence": rec(evidence.MediaTypeSNPReport, report)}))
	add("reject-mixed-platforms", "TDX collateral as endorsements of SEV-SNP evidence (cmw.format).", "", col(evidence.CollectionType, map[string]any{"evidence": rec(evidence.MediaTypeSNPReport, report), "endorsements": rec(evidence.MediaTypeTDXCollateral, coll)}))
	add("reject-evidence-as-bare-record", "Platform evidence as a top-level record instead of in the collection (cmw.format).", "", cborOf(rec(evidence.MediaTypeTDXQuote, quote)))
	add("reject-cocos-payload-as-cmw", "cocos's JSON payload where a CMW is expected (the expat-04 container).", "", cocosData(tdxDec, ""))
	add("reject-cocos-snp-vtpm", "cocos SNP-vTPM evidence: refused as cocos.unsupported.", "cocos", cocosData(tdxDec, cocos.PlatformSNPvTPM))
	add("reject-rust-ref-snp-media-type", "A rust-ref record carrying an SEV-SNP media type (the profile defines TDX only).", "rust-ref", cborOf(rec(evidence.MediaTypeSNPReport, report)))
	add("reject-rust-ref-record-with-indicator", "A rust-ref record with a third element (indicator): the Rust code writes none.", "rust-ref", cborOf([]any{rustref.MediaTypeTDXQuote, quote, 2}))
	writeVectors(t, KindCMW, cases)
}

func genCocosPayload(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	h32 := bytes.Repeat([]byte{0x11}, 32)
	binder := `"binder":{"aik_pub_hash":"` + b64(h32) + `","binding":"` + b64(h32) + `"}`
	var cases []Case
	add := func(name, desc, payload, label string) {
		in := obj{"payload": Hex(payload)}
		if label != "" {
			in["label"] = label
		}
		var exp obj
		p, err := cocos.ParsePayload([]byte(payload))
		if err == nil {
			l := label
			if l == "" {
				l = cocos.ExporterLabel
			}
			err = p.CheckLabel(l)
		}
		if err != nil {
			exp = errCode(err)
		} else {
			exp = obj{"version": p.Version, "evidence": Hex(p.Evidence), "aik_pub_hash": Hex(p.Binder.AIKPubHash), "binding": Hex(p.Binder.Binding)}
			if p.MediaType != "" {
				exp["media_type"] = p.MediaType
			}
			if p.Binder.ExporterLabel != "" {
				exp["exporter_label"] = p.Binder.ExporterLabel
			}
		}
		cases = append(cases, mkCase(name, desc+" Payload: "+payload, in, exp))
	}
	realistic := `{"version":1,"media_type":"application/eat+cwt","evidence":"ZXZpZGVuY2U=","binder":{"exporter_label":"Attestation","aik_pub_hash":"V4NoFSxqvbtle4tHzv7GLbDq5n/HAk1d7/OVTAojAf0=","binding":"GbGzhBxVnZ/RyFonSA5yXvbdkWp9yAOxMCm+H/Q+LWk="}}`
	add("realistic-p256", "The payload cocos writes for binder.json's sha256-suite-p256-aik inputs (label Attestation), evidence = ASCII \"evidence\": 235 bytes, as the interop note computed with Go encoding/json.", realistic, "")
	add("minimal", "No media_type and no exporter_label (cocos omits empty members; an absent label means cocos's own).", `{"version":1,"evidence":"ZXZpZGVuY2U=",`+binder+`}`, "")
	add("reject-cocos-round-trip-test", "cocos's own TestPayloadRoundTrip payload: its 3- and 7-byte \"hashes\" are no suite digests. cocos accepts it; seatrx refuses (cocos.format).", `{"version":1,"media_type":"application/eat+cwt","evidence":"ZXZpZGVuY2U=","binder":{"exporter_label":"Attestation","aik_pub_hash":"YWlr","binding":"YmluZGluZw=="}}`, "")
	add("reject-unpadded-base64", "binding without its '=' padding (cocos rejects it too: Go's encoding/json).", `{"version":1,"evidence":"ZXZpZGVuY2U=","binder":{"aik_pub_hash":"`+b64(h32)+`","binding":"`+strings.TrimRight(b64(h32), "=")+`"}}`, "")
	add("reject-url-alphabet", "evidence in the URL-safe base64 alphabet (cocos rejects it too).", `{"version":1,"evidence":"_-8=",`+binder+`}`, "")
	add("reject-member-in-other-case", "\"Binder\" instead of \"binder\": cocos (Go encoding/json) accepts any case; seatrx does not.", `{"version":1,"evidence":"ZXZpZGVuY2U=","Binder":{"aik_pub_hash":"`+b64(h32)+`","binding":"`+b64(h32)+`"}}`, "")
	add("reject-unknown-member", "An unknown member: cocos ignores it; seatrx refuses.", `{"version":1,"evidence":"ZXZpZGVuY2U=","nonce":"AA==",`+binder+`}`, "")
	add("reject-duplicate-member", "evidence twice: cocos takes the last; seatrx refuses.", `{"version":1,"evidence":"AA==","evidence":"ZXZpZGVuY2U=",`+binder+`}`, "")
	add("reject-missing-binding", "binder without binding (cocos: ErrMissingBinder).", `{"version":1,"evidence":"ZXZpZGVuY2U=","binder":{"aik_pub_hash":"`+b64(h32)+`"}}`, "")
	add("reject-missing-evidence", "Neither evidence nor attestation_results (cocos: ErrMissingStatement).", `{"version":1,`+binder+`}`, "")
	add("reject-label-attestation-binding", "exporter_label \"Attestation Binding\" (cocos since PR #589: ErrUnexpectedExporterLabel).", `{"version":1,"evidence":"ZXZpZGVuY2U=","binder":{"exporter_label":"Attestation Binding","aik_pub_hash":"`+b64(h32)+`","binding":"`+b64(h32)+`"}}`, "")
	add("reject-version-2", "version 2: cocos does not check it; seatrx reads version 1 only.", `{"version":2,"evidence":"ZXZpZGVuY2U=",`+binder+`}`, "")
	add("reject-attestation-results", "attestation_results (no cocos producer sets them): cocos.unsupported.", `{"version":1,"attestation_results":"ZXZpZGVuY2U=",`+binder+`}`, "")
	writeVectors(t, KindCocosPayload, cases)
}
