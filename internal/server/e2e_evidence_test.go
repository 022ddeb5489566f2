package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/verify"
)

// earAnnotations returns the seatrx annotations of the single submod of an
// EAR JWT (decoded without verification: the receipt verification in the
// test checks the signature).
func earAnnotations(t *testing.T, jwt []byte) map[string]any {
	t.Helper()
	parts := strings.Split(string(jwt), ".")
	if len(parts) != 3 {
		t.Fatalf("EAR is not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Submods map[string]struct {
			Annotated map[string]any `json:"ear.veraison.annotated-evidence"`
			Vector    map[string]int `json:"ear.trustworthiness-vector"`
			Status    string         `json:"ear.status"`
		} `json:"submods"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	for _, s := range claims.Submods {
		s.Annotated["status"] = s.Status
		s.Annotated["vector"] = s.Vector
		return s.Annotated
	}
	t.Fatal("EAR without submods")
	return nil
}

// TestEndToEndTDXQuoteV5: a peer on a TDX 1.5 host (quote version 5, TD 1.5
// body) attests and gets a receipt; the receipt's action and snapshot, the
// EAR inside it and the server's appraisal all name one evidence digest, the
// SHA-256 of the canonical quote. The client verifies the server's own
// evidence in the same session (mutual).
func TestEndToEndTDXQuoteV5(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	c := e.dial(t, e.tdx(sim.TDXGuestConfig{QuoteVersion: tdx.QuoteV5}))
	if _, err := c.AttestServer(ctx); err != nil {
		t.Fatalf("server attestation: %v", err)
	}
	if _, err := c.Attest(ctx); err != nil {
		t.Fatalf("attest with a v5 quote: %v", err)
	}
	d, err := evidence.Decode(c.LastProof().CMW)
	if err != nil {
		t.Fatal(err)
	}
	if d.Platform != evidence.PlatformTDX || len(d.Evidence) < 2 || d.Evidence[0] != 5 {
		t.Fatalf("the client did not send a v5 quote: %+v", d.Platform)
	}
	want, err := evidence.EvidenceDigest(d)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := c.RequestReceipt(ctx, map[string]any{"op": "v5"}, "")
	if err != nil {
		t.Fatalf("receipt for a v5 attestation: %v", err)
	}
	keys, _, err := c.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Bundle(rr.Bundle, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: e.pki})
	if err != nil || !rep.OK {
		t.Fatalf("receipt does not verify: %+v %v", rep, err)
	}
	snap := rep.Receipt.ContextSnapshot
	if !bytes.Equal(rep.Action.EvidenceDigest.Value, want) || !bytes.Equal(snap.EvidenceDigest.Value, want) {
		t.Fatalf("action digest %x, snapshot %x, want %x", rep.Action.EvidenceDigest.Value, snap.EvidenceDigest.Value, want)
	}
	ann := earAnnotations(t, rep.Receipt.AttestationToken.Value)
	if ann["seatrx.evidence-digest"] != base64.RawURLEncoding.EncodeToString(want) {
		t.Fatalf("EAR evidence digest %v, want %x", ann["seatrx.evidence-digest"], want)
	}
	ms, _ := ann["seatrx.measurements"].(map[string]any)
	if ms["mrservicetd"] == nil {
		t.Fatalf("EAR measurements lack the TD 1.5 MRSERVICETD: %v", ms)
	}
	if snap.Mutual == nil || len(snap.Mutual.EvidenceDigest.Value) != 32 {
		t.Fatalf("mutual result %+v", snap.Mutual)
	}
	// The dev server has no TDX collateral: the appraisal, the EAR and the
	// receipt all say that the TCB status and revocation were not evaluated.
	if strings.Join(snap.NotEvaluated, ",") != "tcb_status,revocation" {
		t.Fatalf("snapshot not_evaluated %v", snap.NotEvaluated)
	}
	ne, _ := ann["seatrx.not-evaluated"].([]any)
	vec, _ := ann["vector"].(map[string]int)
	if len(ne) != 2 || ne[0] != "tcb_status" || ne[1] != "revocation" || vec["configuration"] != 36 || ann["status"] != "warning" {
		t.Fatalf("EAR: not evaluated %v, vector %v, status %v", ann["seatrx.not-evaluated"], vec, ann["status"])
	}
	js, err := rep.Receipt.JSON()
	if err != nil || !strings.Contains(string(js), `"not_evaluated": [`) {
		t.Fatalf("receipt show lacks not_evaluated: %v", err)
	}
}

// TestEndToEndTDXWithCollateral: a server holding TDX collateral evaluates
// the TCB status and revocation, and its receipts say nothing is missing.
func TestEndToEndTDXWithCollateral(t *testing.T) {
	data := t.TempDir()
	pki, err := sim.LoadOrGenerate(filepath.Join(server.DevDir(data), "sim-pki"), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	coll, err := pki.TDX.Collateral(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	collDir := filepath.Join(t.TempDir(), "tdx-collateral")
	if err := coll.Save(collDir); err != nil {
		t.Fatal(err)
	}
	e := start(t, func(c *server.Config) { c.DataDir, c.TDXCollateralDir = data, collDir })
	ctx := context.Background()
	for _, ver := range []int{tdx.QuoteV4, tdx.QuoteV5} {
		c := e.dial(t, e.tdx(sim.TDXGuestConfig{QuoteVersion: ver}))
		if _, err := c.Attest(ctx); err != nil {
			t.Fatalf("v%d: %v", ver, err)
		}
		rr, err := c.RequestReceipt(ctx, map[string]any{"op": "collateral"}, "")
		if err != nil {
			t.Fatal(err)
		}
		r, err := receipt.ParseReceipt(mustBundle(t, rr.Bundle).Receipt)
		if err != nil {
			t.Fatal(err)
		}
		if ne := r.ContextSnapshot.NotEvaluated; len(ne) != 0 {
			t.Fatalf("v%d with collateral: not_evaluated %v", ver, ne)
		}
		if _, ok := earAnnotations(t, r.AttestationToken.Value)["seatrx.not-evaluated"]; ok {
			t.Fatalf("v%d: EAR claims something was not evaluated", ver)
		}
	}
}

// TestEndToEndTrailingBytesRefused: a quote followed by non-zero bytes is
// refused on the wire with tdx.decode (zero padding is accepted, and the
// padded attestation gets the digest of the unpadded quote).
func TestEndToEndTrailingBytesRefused(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		tail []byte
		code string
	}{
		{"zero padding", make([]byte, 70), ""},
		{"non-zero byte", []byte{0, 0, 7}, "tdx.decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := e.pki.TDX.Guest(sim.TDXGuestConfig{})
			var quote []byte
			p := e.tdx(sim.TDXGuestConfig{})
			p.Attester = rawAttester{quote: func(rd [64]byte) ([]byte, error) {
				q, err := g.Quote(rd)
				quote = q
				return append(q, tc.tail...), err
			}}
			c := e.dial(t, p)
			_, err := c.Attest(ctx)
			if tc.code != "" {
				wantProblem(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rr, err := c.RequestReceipt(ctx, map[string]any{"op": "padded"}, "")
			if err != nil {
				t.Fatal(err)
			}
			keys, _, err := c.Keys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := verify.Bundle(rr.Bundle, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: e.pki})
			if err != nil || !rep.OK {
				t.Fatalf("%+v %v", rep, err)
			}
			want, err := evidence.EvidenceDigest(&evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformTDX, Evidence: quote})
			if err != nil || !bytes.Equal(rep.Action.EvidenceDigest.Value, want) {
				t.Fatalf("digest of the padded attestation %x, want that of the quote %x (%v)", rep.Action.EvidenceDigest.Value, want, err)
			}
		})
	}
}

// rawAttester sends a TDX quote exactly as its function returns it, without
// the attester's canonicalisation, as a misbehaving peer would.
type rawAttester struct {
	quote func([64]byte) ([]byte, error)
}

func (rawAttester) Platform() evidence.Platform { return evidence.PlatformTDX }
func (a rawAttester) Attest(_ context.Context, rd [64]byte) ([]byte, error) {
	q, err := a.quote(rd)
	if err != nil {
		return nil, err
	}
	return evidence.EncodeTDX(q, nil)
}

// TestEndToEndTDXCollateralRequired: a policy requiring collateral refuses a
// TDX attestation the server cannot evaluate, with tdx.policy on the wire.
func TestEndToEndTDXCollateralRequired(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("id: needs-collateral\ntdx: {require_collateral: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t, func(c *server.Config) { c.PolicyFile = pol })
	_, err := e.dial(t, e.tdx(sim.TDXGuestConfig{QuoteVersion: tdx.QuoteV5})).Attest(context.Background())
	wantProblem(t, err, "tdx.policy")
}

// TestEndToEndSNPRevocationNotEvaluated: an offline server cannot check the
// ASK against AMD's CRL; the receipt and its EAR say so.
func TestEndToEndSNPRevocationNotEvaluated(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, err := c.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	rr, err := c.RequestReceipt(ctx, map[string]any{"op": "snp"}, "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := receipt.ParseReceipt(mustBundle(t, rr.Bundle).Receipt)
	if err != nil {
		t.Fatal(err)
	}
	ne, _ := earAnnotations(t, r.AttestationToken.Value)["seatrx.not-evaluated"].([]any)
	if strings.Join(r.ContextSnapshot.NotEvaluated, ",") != "revocation" || len(ne) != 1 || ne[0] != "revocation" {
		t.Fatalf("snapshot not_evaluated %v, EAR %v", r.ContextSnapshot.NotEvaluated, ne)
	}
}

// TestEndToEndPinServer: the client appraises the server's own evidence
// (mutual attestation) against a policy document of its own, the same format
// and rules the server applies to clients, and refuses a server whose
// simulated measurement, host data or TCB it does not allow, with the
// server's codes.
func TestEndToEndPinServer(t *testing.T) {
	zero48, zero32 := strings.Repeat("00", 48), strings.Repeat("00", 32)
	cases := []struct {
		name, attester, pol, code string
	}{
		{"snp allowed", "sim-snp", "snp:\n  measurements: [" + zero48 + "]\n  host_data: " + zero32 + "\n  min_tcb: {boot_loader: 9, snp: 23, microcode: 72}\n", ""},
		{"snp measurement not allowed", "sim-snp", "snp:\n  measurements: [" + strings.Repeat("ab", 48) + "]\n", "snp.measurement"},
		{"snp host data differs", "sim-snp", "snp:\n  host_data: " + strings.Repeat("11", 32) + "\n", "snp.policy"},
		{"snp TCB below minimum", "sim-snp", "snp:\n  min_tcb: {snp: 24}\n", "snp.tcb"},
		{"snp not accepted at all", "sim-snp", "tdx: {}\n", "snp.policy"},
		{"tdx allowed", "sim-tdx", "tdx:\n  mrtds: [" + zero48 + "]\n  min_tee_tcb_svn: \"03000400000000000000000000000000\"\n", ""},
		{"tdx MRTD not allowed", "sim-tdx", "tdx:\n  mrtds: [" + strings.Repeat("cd", 48) + "]\n", "tdx.measurement"},
		{"tdx TCB below minimum", "sim-tdx", "tdx:\n  min_tee_tcb_svn: \"04000000000000000000000000000000\"\n", "tdx.tcb"},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, func(c *server.Config) { c.Attester = tc.attester })
			pin, err := policy.Parse([]byte("id: pin-server\n"+tc.pol), "server-policy.yaml")
			if err != nil {
				t.Fatal(err)
			}
			checker, err := client.NewChecker(e.pki, pin)
			if err != nil {
				t.Fatal(err)
			}
			c, err := client.Dial(ctx, client.Config{Server: "https://" + e.addr, Roots: e.roots, Prover: e.snp(sim.SNPGuestConfig{}), Checker: checker})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res, err := c.AttestServer(ctx)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("server refused by an allowing pin: %v", err)
				}
				if res.Appraisal.PolicyID != "pin-server" {
					t.Fatalf("appraised under %q, not the pin", res.Appraisal.PolicyID)
				}
				return
			}
			var pc interface{ ProblemCode() string }
			if !errors.As(err, &pc) || pc.ProblemCode() != tc.code {
				t.Fatalf("AttestServer: %v; want %s", err, tc.code)
			}
		})
	}
}
