package receipt

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"testing/cryptotest"
)

var update = flag.Bool("update", false, "regenerate conformance/vectors/{receipt,approval}.json")

var vectorDir = filepath.Join("..", "conformance", "vectors")

var kebabName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

type vectorFile struct {
	Schema string            `json:"schema"`
	Kind   string            `json:"kind"`
	Cases  []json.RawMessage `json:"cases"`
}

// TestCorpus runs every generated case in memory through the same code path
// as RunVector.
func TestCorpus(t *testing.T) {
	for kind, build := range map[string]func(testing.TB) []vectorCase{VectorKindReceipt: receiptCorpus, VectorKindApproval: approvalCorpus} {
		seen := map[string]bool{}
		for _, c := range build(t) {
			t.Run(kind+"/"+c.Name, func(t *testing.T) {
				if !kebabName.MatchString(c.Name) || seen[c.Name] {
					t.Fatalf("bad or duplicate case name %q", c.Name)
				}
				seen[c.Name] = true
				if err := runVector(kind, &c.Inputs, &c.Expected); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestCorpusCoverage checks that the negative corpus covers every code the
// reference §3.11 list maps to, and has at least 30 negative cases.
func TestCorpusCoverage(t *testing.T) {
	codes := map[ErrorCode]int{}
	neg := 0
	for _, c := range append(receiptCorpus(t), approvalCorpus(t)...) {
		if c.Expected.Error != "" {
			codes[ErrorCode(c.Expected.Error)]++
			neg++
		}
	}
	if neg < 30 {
		t.Fatalf("only %d negative cases", neg)
	}
	for _, want := range []ErrorCode{
		CodeTrailingData, CodeUntagged, CodeUnknownCrit, CodeAlgKeyMismatch, CodeWrongTyp, CodeNonDeterministic,
		CodeDuplicateKey, CodeIndefiniteLength, CodeWrongType, CodeUnknownField, CodeMissingField, CodeHashLength,
		CodeHashAlg, CodeHashMismatch, CodeApprovalsBelow, CodeDuplicateApprover, CodeUnknownApprover, CodeApprovalReceiptID,
		CodeApprovalExpired, CodeAttestationSignature, CodeAttestationNonce, CodeAttestationStatus, CodeAttestationProfile,
		CodeTestPKI, CodeFutureTimestamp, CodeReplayed, CodeTokenConsumed, CodeTokenCnf,
	} {
		if codes[want] == 0 {
			t.Errorf("no negative case for %s", want)
		}
	}
}

// TestGenerateVectors rewrites the vector files when run with -update:
//
//	go test ./receipt -run TestGenerateVectors -update
//
// Randomness (receipt ids, salts, ECDSA nonces) comes from a fixed seed, so
// the output is byte-stable.
func TestGenerateVectors(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate the vector files")
	}
	for _, kind := range []string{VectorKindReceipt, VectorKindApproval} {
		build := map[string]func(testing.TB) []vectorCase{VectorKindReceipt: receiptCorpus, VectorKindApproval: approvalCorpus}[kind]
		var cases []vectorCase
		t.Run(kind, func(t *testing.T) {
			// A fresh fixed seed per file keeps each file byte-stable.
			cryptotest.SetGlobalRandom(t, 20261101)
			cases = build(t)
		})
		out := struct {
			Schema string       `json:"schema"`
			Kind   string       `json:"kind"`
			Cases  []vectorCase `json:"cases"`
		}{VectorSchema, kind, cases}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(vectorDir, kind+".json"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d %s cases", len(cases), kind)
	}
}

// TestVectorFiles runs every case of the published files through RunVector.
func TestVectorFiles(t *testing.T) {
	for _, kind := range []string{VectorKindReceipt, VectorKindApproval} {
		data, err := os.ReadFile(filepath.Join(vectorDir, kind+".json"))
		if err != nil {
			t.Fatalf("read %s vectors: %v", kind, err)
		}
		var vf vectorFile
		if err := json.Unmarshal(data, &vf); err != nil {
			t.Fatal(err)
		}
		if vf.Schema != VectorSchema || vf.Kind != kind || len(vf.Cases) == 0 {
			t.Fatalf("%s: schema %q kind %q cases %d", kind, vf.Schema, vf.Kind, len(vf.Cases))
		}
		for _, raw := range vf.Cases {
			var c struct {
				Name        string          `json:"name"`
				Description string          `json:"description"`
				Inputs      json.RawMessage `json:"inputs"`
				Expected    json.RawMessage `json:"expected"`
			}
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			t.Run(kind+"/"+c.Name, func(t *testing.T) {
				if c.Description == "" {
					t.Fatal("empty description")
				}
				if err := RunVector(kind, c.Inputs, c.Expected); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestRunVectorRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, kind     string
		inputs, expect string
	}{
		{"unknown-kind", "binder", `{"op":"verify"}`, `{}`},
		{"unknown-op", "receipt", `{"op":"mint"}`, `{}`},
		{"unknown-input-member", "receipt", `{"op":"verify","color":1}`, `{}`},
		{"uppercase-hex", "receipt", `{"op":"verify","receipt":"D2"}`, `{}`},
		{"wrong-expected-error", "receipt", `{"op":"verify","mode":"audit","receipt":"00"}`, `{"error":"replayed"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := RunVector(tc.kind, json.RawMessage(tc.inputs), json.RawMessage(tc.expect)); err == nil {
				t.Fatal("RunVector accepted a bad case")
			}
		})
	}
}
