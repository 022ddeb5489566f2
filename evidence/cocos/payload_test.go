package cocos

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/evidence/check"
)

// The P-256 payload of interop note §2.4, computed there independently with
// Go's encoding/json from seatrx's binder vector inputs (label Attestation,
// evidence = ASCII "evidence"): 235 bytes.
const realistic = `{"version":1,"media_type":"application/eat+cwt","evidence":"ZXZpZGVuY2U=","binder":{"exporter_label":"Attestation","aik_pub_hash":"V4NoFSxqvbtle4tHzv7GLbDq5n/HAk1d7/OVTAojAf0=","binding":"GbGzhBxVnZ/RyFonSA5yXvbdkWp9yAOxMCm+H/Q+LWk="}}`

func TestParsePayloadRealistic(t *testing.T) {
	if len(realistic) != 235 {
		t.Fatalf("fixture is %d bytes, the note says 235", len(realistic))
	}
	p, err := ParsePayload([]byte(realistic))
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 1 || p.MediaType != MediaTypeEAT || string(p.Evidence) != "evidence" || p.Binder.ExporterLabel != "Attestation" ||
		len(p.Binder.AIKPubHash) != 32 || len(p.Binder.Binding) != 32 {
		t.Fatalf("parsed %+v", p)
	}
	// Marshal writes exactly cocos's bytes.
	out, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != realistic {
		t.Fatalf("Marshal:\n got %s\nwant %s", out, realistic)
	}
	if err := p.CheckLabel(ExporterLabel); err != nil {
		t.Fatal(err)
	}
}

func TestParsePayloadRefusesMalformed(t *testing.T) {
	h32 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	h48 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 48))
	binder := `"binder":{"aik_pub_hash":"` + h32 + `","binding":"` + h32 + `"}`
	ok := `{"version":1,"evidence":"ZXZpZGVuY2U=",` + binder + `}`
	if _, err := ParsePayload([]byte(ok)); err != nil {
		t.Fatalf("minimal payload refused: %v", err)
	}
	tests := []struct {
		name, in string
		chk      check.Check
		field    string
	}{
		{"empty", ``, check.Decode, "payload"},
		{"too large", `{"version":1,"evidence":"` + strings.Repeat("A", MaxPayloadSize) + `"}`, check.Decode, "payload"},
		{"not utf-8", "{\"version\":1,\"media_type\":\"\xff\"}", check.Decode, "payload"},
		{"not an object", `[1]`, check.Decode, "payload"},
		{"truncated", ok[:len(ok)-1], check.Decode, "payload"},
		{"trailing data", ok + `{}`, check.Decode, "payload"},
		{"unknown member (cocos ignores it)", `{"version":1,"evidence":"ZXZpZGVuY2U=","colour":"blue",` + binder + `}`, check.Decode, "colour"},
		{"member in another case (cocos accepts it)", `{"Version":1,"evidence":"ZXZpZGVuY2U=",` + binder + `}`, check.Decode, "Version"},
		{"duplicate member (cocos takes the last)", `{"version":1,"version":1,"evidence":"ZXZpZGVuY2U=",` + binder + `}`, check.Decode, "version"},
		{"version absent", `{"evidence":"ZXZpZGVuY2U=",` + binder + `}`, check.Decode, "version"},
		{"version not an integer", `{"version":1.5,"evidence":"ZXZpZGVuY2U=",` + binder + `}`, check.Decode, "version"},
		{"version as a string", `{"version":"1","evidence":"ZXZpZGVuY2U=",` + binder + `}`, check.Decode, "version"},
		{"version 2", `{"version":2,"evidence":"ZXZpZGVuY2U=",` + binder + `}`, check.Format, "version"},
		{"media type", `{"version":1,"media_type":"application/eat+jwt","evidence":"ZXZpZGVuY2U=",` + binder + `}`, check.Format, "media_type"},
		{"media type null", `{"version":1,"media_type":null,"evidence":"ZXZpZGVuY2U=",` + binder + `}`, check.Decode, "media_type"},
		{"evidence absent", `{"version":1,` + binder + `}`, check.Decode, "evidence"},
		{"evidence null", `{"version":1,"evidence":null,` + binder + `}`, check.Decode, "evidence"},
		{"evidence empty", `{"version":1,"evidence":"",` + binder + `}`, check.Decode, "evidence"},
		{"evidence unpadded", `{"version":1,"evidence":"ZXZpZGVuY2U",` + binder + `}`, check.Decode, "evidence"},
		{"evidence URL alphabet", `{"version":1,"evidence":"_-8=",` + binder + `}`, check.Decode, "evidence"},
		{"evidence with a line break", `{"version":1,"evidence":"ZXZp\nZGVuY2U=",` + binder + `}`, check.Decode, "evidence"},
		{"attestation results", `{"version":1,"attestation_results":"ZXZpZGVuY2U=",` + binder + `}`, check.Unsupported, "attestation_results"},
		{"binder absent", `{"version":1,"evidence":"ZXZpZGVuY2U="}`, check.Decode, "binder"},
		{"binder not an object", `{"version":1,"evidence":"ZXZpZGVuY2U=","binder":"x"}`, check.Decode, "binder"},
		{"binding absent", `{"version":1,"evidence":"ZXZpZGVuY2U=","binder":{"aik_pub_hash":"` + h32 + `"}}`, check.Decode, "binder.binding"},
		{"aik_pub_hash absent", `{"version":1,"evidence":"ZXZpZGVuY2U=","binder":{"binding":"` + h32 + `"}}`, check.Decode, "binder.aik_pub_hash"},
		{"binding unpadded", `{"version":1,"evidence":"ZXZpZGVuY2U=","binder":{"aik_pub_hash":"` + h32 + `","binding":"YmluZGluZw"}}`, check.Decode, "binder.binding"},
		{"binding of 7 bytes (cocos's own round-trip test)", `{"version":1,"evidence":"ZXZpZGVuY2U=","binder":{"aik_pub_hash":"` + h32 + `","binding":"YmluZGluZw=="}}`, check.Format, "binder.binding"},
		{"hash lengths differ", `{"version":1,"evidence":"ZXZpZGVuY2U=","binder":{"aik_pub_hash":"` + h32 + `","binding":"` + h48 + `"}}`, check.Format, "binder.binding"},
		{"binder unknown member", `{"version":1,"evidence":"ZXZpZGVuY2U=","binder":{"aik_pub_hash":"` + h32 + `","binding":"` + h32 + `","nonce":"AA=="}}`, check.Decode, "binder.nonce"},
		{"binder duplicate member", `{"version":1,"evidence":"ZXZpZGVuY2U=","binder":{"aik_pub_hash":"` + h32 + `","aik_pub_hash":"` + h32 + `","binding":"` + h32 + `"}}`, check.Decode, "binder.aik_pub_hash"},
		{"exporter label not a string", `{"version":1,"evidence":"ZXZpZGVuY2U=","binder":{"exporter_label":1,"aik_pub_hash":"` + h32 + `","binding":"` + h32 + `"}}`, check.Decode, "binder.exporter_label"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePayload([]byte(tc.in))
			var ce *check.Error
			if !errors.As(err, &ce) || ce.Platform != check.Cocos || ce.Check != tc.chk || ce.Field != tc.field {
				t.Fatalf("got %v, want cocos.%s on %q", err, tc.chk, tc.field)
			}
		})
	}
}

func TestCheckLabel(t *testing.T) {
	for _, tc := range []struct {
		label string
		ok    bool
	}{{"", true}, {"Attestation", true}, {"Attestation Binding", false}, {"EXPORTER-cmw-attestation", false}, {"attestation", false}} {
		p := &Payload{Binder: Binder{ExporterLabel: tc.label}}
		err := p.CheckLabel("Attestation")
		var ce *check.Error
		if tc.ok != (err == nil) || (err != nil && (!errors.As(err, &ce) || ce.Check != check.Format || ce.Field != "binder.exporter_label")) {
			t.Errorf("label %q: %v", tc.label, err)
		}
	}
}
