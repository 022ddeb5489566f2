package receipt

import (
	"bytes"
	"testing"
	"time"
)

// seedReceipts adds the fixture's receipts and every receipt of the vector
// corpus as seeds.
func seedCorpus(f *testing.F, pick func(vectorCase) []byte) {
	for _, c := range append(receiptCorpus(f), approvalCorpus(f)...) {
		if b := pick(c); len(b) > 0 {
			f.Add(b)
		}
	}
}

// FuzzVerifyReceipt decodes and verifies arbitrary receipt bytes; it must
// never panic, and anything that verifies must re-encode to the same payload.
func FuzzVerifyReceipt(f *testing.F) {
	fx := newFixture(f, "EdDSA", 1)
	seedCorpus(f, func(c vectorCase) []byte { return c.Inputs.Receipt })
	trust := fx.trust(f, 1)
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := VerifyOptions{Mode: ModeOnline, Now: testNow.Add(30 * time.Second), Replay: nopReplay{}, Trust: trust}
		rep, err := VerifyReceipt(data, opts)
		if err == nil {
			if !rep.OK || rep.Receipt == nil {
				t.Fatal("nil error but report not OK")
			}
			e, perr := parseEnvelope("cose", data, MaxReceiptSize, ReceiptType, true)
			if perr != nil {
				t.Fatalf("verified but does not parse: %v", perr)
			}
			again, merr := marshal(rep.Receipt)
			if merr != nil || !bytes.Equal(again, e.payload) {
				t.Fatal("verified payload does not re-encode identically")
			}
		} else if Code(err) == "" {
			t.Fatalf("untyped error: %v", err)
		}
	})
}

// FuzzParseApproval decodes arbitrary approval bytes.
func FuzzParseApproval(f *testing.F) {
	seedCorpus(f, func(c vectorCase) []byte { return c.Inputs.Approval })
	fx := newFixture(f, "EdDSA", 1)
	key := fx.approvers[0].Trusted()
	f.Fuzz(func(t *testing.T, data []byte) {
		sa, err := ParseApproval(data)
		if err != nil {
			if Code(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		again, err := marshal(&sa.Approval)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := parseEnvelope("a", data, MaxApprovalSize, ApprovalType, false)
		if !bytes.Equal(again, e.payload) {
			t.Fatal("approval does not re-encode identically")
		}
		_, _ = VerifyApproval(data, key)
	})
}

// FuzzUnmarshalBundle decodes arbitrary bundles; accepted input must be
// canonical (re-encodes byte for byte).
func FuzzUnmarshalBundle(f *testing.F) {
	seedCorpus(f, func(c vectorCase) []byte { return c.Inputs.Bundle })
	f.Add([]byte{0xa1, 0x67, 'r', 'e', 'c', 'e', 'i', 'p', 't', 0x41, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := UnmarshalBundle(data)
		if err != nil {
			if Code(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		again, err := b.MarshalCBOR()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted bundle does not re-encode identically: %v", err)
		}
	})
}

// FuzzParseAction decodes arbitrary action preimages.
func FuzzParseAction(f *testing.F) {
	seedCorpus(f, func(c vectorCase) []byte { return c.Inputs.Action })
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAction(data)
		if err != nil {
			if Code(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		again, err := a.Marshal()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted action does not re-encode identically: %v", err)
		}
	})
}

// FuzzCMWRecord decodes arbitrary CMW records through the strict reader.
func FuzzCMWRecord(f *testing.F) {
	f.Add(mustCBOR(f, CMWRecord{MediaType: EARMediaType, Value: []byte("a.b.c")}))
	f.Add([]byte{0x83, 0x61, 0x61, 0x41, 0x00, 0x08})
	f.Fuzz(func(t *testing.T, data []byte) {
		var c CMWRecord
		if err := unmarshal("hae_attestation_token", data, &c); err != nil {
			if Code(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		again, err := marshal(c)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted record does not re-encode identically: %v", err)
		}
	})
}

// FuzzParseKeys decodes arbitrary keys documents: every accepted document
// yields its keys, and survives a re-encode.
func FuzzParseKeys(f *testing.F) {
	k, _ := testKeys(f)
	enc, err := k.MarshalCBOR()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	hk, _, _ := historyKeys(f)
	if enc, err = hk.MarshalCBOR(); err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add([]byte{0xa1, 0x66, 'i', 's', 's', 'u', 'e', 'r', 0x61, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKeys(data)
		if err != nil {
			if Code(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if _, err := k.IssuerKeys(); err != nil {
			t.Fatalf("accepted document without issuer keys: %v", err)
		}
		if _, err := MergeKeys(k, k); err != nil {
			t.Fatalf("an accepted document does not merge with itself: %v", err)
		}
		again, err := k.MarshalCBOR()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseKeys(again); err != nil {
			t.Fatalf("re-encoded document refused: %v", err)
		}
	})
}

// FuzzParseApproverQuery: a query either parses with a typed error or
// decodes to a valid statement whose encoding is the signed payload.
func FuzzParseApproverQuery(f *testing.F) {
	s := mustSigner(f, seedKey("alice"), "alice")
	q, err := SignApproverQuery(s, &ApproverQuery{Approver: "alice", Audience: testIssuer, IssuedAt: 1, Nonce: make([]byte, 16)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(q)
	seedCorpus(f, func(c vectorCase) []byte { return c.Inputs.Approval })
	f.Fuzz(func(t *testing.T, data []byte) {
		sq, err := ParseApproverQuery(data)
		if err != nil {
			if Code(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if err := sq.validate(""); err != nil {
			t.Fatalf("accepted an invalid query: %v", err)
		}
		e, _ := parseEnvelope("query", data, MaxApprovalSize, ApproverQueryType, false)
		if again, err := marshal(&sq.ApproverQuery); err != nil || !bytes.Equal(again, e.payload) {
			t.Fatalf("accepted query does not re-encode identically: %v", err)
		}
	})
}
