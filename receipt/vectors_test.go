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

// vectorSchema is the schema tag the generator writes (conformance/README.md).
const vectorSchema = "seatrx-vectors/v2"

var kebabName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// corpora are the generators of the two vector kinds.
var corpora = map[string]func(testing.TB) []vectorCase{"receipt": receiptCorpus, "approval": approvalCorpus}

// TestCorpusNames checks the generated case names; the cases themselves are
// run through package conformance's runner by TestCorpusRuns.
func TestCorpusNames(t *testing.T) {
	for kind, build := range corpora {
		seen := map[string]bool{}
		for _, c := range build(t) {
			if !kebabName.MatchString(c.Name) || seen[c.Name] || c.Description == "" {
				t.Errorf("%s: bad or duplicate case name %q, or no description", kind, c.Name)
			}
			seen[c.Name] = true
		}
	}
}

// TestCorpusCoverage checks that the negative corpus covers every code the
// reference §3.11 list maps to, and has at least 30 negative cases.
func TestCorpusCoverage(t *testing.T) {
	codes := map[string]int{}
	neg := 0
	for _, c := range append(receiptCorpus(t), approvalCorpus(t)...) {
		if c.Expected.Error != "" {
			codes[c.Expected.Error]++
			neg++
		}
	}
	if neg < 30 {
		t.Fatalf("only %d negative cases", neg)
	}
	var want []string
	for _, c := range []ErrorCode{
		CodeTrailingData, CodeUntagged, CodeUnknownCrit, CodeAlgKeyMismatch, CodeWrongTyp, CodeNonDeterministic,
		CodeDuplicateKey, CodeIndefiniteLength, CodeWrongType, CodeUnknownField, CodeMissingField, CodeHashLength,
		CodeHashAlg, CodeHashMismatch, CodeApprovalsBelow, CodeDuplicateApprover, CodeUnknownApprover, CodeApprovalReceiptID,
		CodeApprovalExpired, CodeTestPKI, CodeFutureTimestamp, CodeReplayed, CodeTokenConsumed, CodeTokenCnf,
	} {
		want = append(want, Namespace+"."+string(c))
	}
	// EAR failures keep evidence/ear's codes.
	want = append(want, "ear.signature", "ear.nonce", "ear.status", "ear.profile", "ear.time")
	for _, w := range want {
		if codes[w] == 0 {
			t.Errorf("no negative case for %s", w)
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
	for _, kind := range []string{"receipt", "approval"} {
		var cases []vectorCase
		t.Run(kind, func(t *testing.T) {
			// A fresh fixed seed per file keeps each file byte-stable.
			cryptotest.SetGlobalRandom(t, 20261101)
			cases = corpora[kind](t)
		})
		out := struct {
			Schema string       `json:"schema"`
			Kind   string       `json:"kind"`
			Cases  []vectorCase `json:"cases"`
		}{vectorSchema, kind, cases}
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
