package server_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
)

// The same JSON gives the same signed requested value by the JSON body and
// by the CBOR body the client builds with receipt.RequestedFromJSON: big
// integers intact, 1 an integer; values the mapping refuses, or over a
// limit, are a 400 naming the path and the limit, and nothing is signed.
func TestEndToEndExactRequested(t *testing.T) {
	e := start(t, func(c *server.Config) { c.MetricsOnMain = true })
	ctx := context.Background()
	const doc = `{"amount": 9007199254740993, "big": 12345678901234567891, "max_uses": 1, "rate": 1.0}`
	want, err := receipt.RequestedFromJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	signed := func(out []byte) []byte {
		t.Helper()
		var rr api.ReceiptResponse
		if err := cbor.Unmarshal(out, &rr); err != nil {
			t.Fatal(err)
		}
		a, err := receipt.ParseAction(mustBundle(t, rr.Bundle).Action)
		if err != nil {
			t.Fatal(err)
		}
		return a.Requested
	}

	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, err := c.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, body, code, detail string }{
		{"beyond 64 bits", `{"requested": {"n": 18446744073709551616}}`, "receipt.integer_range", "requested.n"},
		{"inexact", `{"requested": {"amount": 9007199254740993.0}}`, "receipt.inexact_number", "requested.amount"},
		{"duplicate key", `{"requested": {"a": 1, "a": 2}}`, "receipt.duplicate_key", "requested.a"},
		{"array over the limit", `{"requested": {"l": [` + strings.TrimSuffix(strings.Repeat("1,", receipt.MaxRequestedArray+1), ",") + `]}}`, "receipt.too_large", "max_array = 256"},
		{"depth over the limit", `{"requested": ` + strings.Repeat("[", receipt.MaxRequestedDepth+1) + strings.Repeat("]", receipt.MaxRequestedDepth+1) + `}`, "receipt.too_large", "max_depth = 15"},
		{"audience over the limit", `{"requested": 1, "audience": "` + strings.Repeat("a", receipt.MaxAudience+1) + `"}`, "receipt.too_large", "max_audience = 256"},
		{"no requested", `{}`, "receipt.missing_field", "requested"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Do(ctx, "POST", api.PathReceipts, "application/json", []byte(tc.body))
			wantProblem(t, err, tc.code)
			if p := err.(*api.Problem); p.Status != 400 || !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("status %d, detail %q lacks %q", p.Status, p.Detail, tc.detail)
			}
		})
	}
	// The refusals signed nothing and kept the attestation for this request.
	out, err := c.Do(ctx, "POST", api.PathReceipts, "application/json", []byte(`{"requested": `+doc+`}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := signed(out); !bytes.Equal(got, want) {
		t.Fatalf("JSON body signed %x, want %x", got, want)
	}
	m, err := c.Do(ctx, "GET", "/metrics", "", nil)
	if err != nil || !strings.Contains(string(m), "seatrx_receipts_issued_total 1\n") {
		t.Fatalf("metrics: %v\n%s", err, m)
	}

	c2 := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, err := c2.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	rr, err := c2.RequestReceipt(ctx, cbor.RawMessage(want), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := signed(mustMarshal(t, rr)); !bytes.Equal(got, want) {
		t.Fatalf("CBOR body signed %x, want %x", got, want)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
