package server_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
	"github.com/seatrx/seatrx/verify"
)

// rows counts the rows of table in the server's store.
func (e *env) rows(t *testing.T, table string) int {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(e.data, "seatrx.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// challengeAnswer gets a challenge on c and answers it with p, outside the
// client's flow.
func challengeAnswer(t *testing.T, c *client.Conn, p *tlsbind.Prover) []byte {
	t.Helper()
	req, err := c.Do(context.Background(), "POST", api.PathChallenge, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := newClientSession(t, c).Respond(context.Background(), p, req)
	if err != nil {
		t.Fatal(err)
	}
	return proof.Authenticator
}

func attestIssueBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// One request attests and issues: the receipt verifies and is about this
// attestation, the attestation and the receipt are recorded, and the
// connection is attested afterwards like after POST /v1/attest (its one
// receipt is spent).
func TestAttestIssue(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	for _, p := range []*tlsbind.Prover{e.snp(sim.SNPGuestConfig{}), e.tdx(sim.TDXGuestConfig{})} {
		c := e.dial(t, p)
		ear, rr, err := c.AttestAndIssue(ctx, map[string]any{"op": "deploy"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if tm := c.Timings(); tm.AttestIssue == 0 || tm.Attest != 0 || tm.Receipt != 0 {
			t.Fatalf("timings %+v: want one attest-and-issue request", tm)
		}
		keys, _, err := c.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := verify.Bundle(rr.Bundle, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: e.pki})
		if err != nil || !rep.OK {
			t.Fatalf("receipt does not verify: %v", err)
		}
		if err := client.CheckOwnReceipt(rep.Action, c.LastProof(), map[string]any{"op": "deploy"}); err != nil {
			t.Fatal(err)
		}
		if len(ear) == 0 {
			t.Fatal("no EAR")
		}
		_, err = c.RequestReceipt(ctx, map[string]any{"op": "again"}, "")
		wantProblem(t, err, "server.attestation_used")
		if _, err := c.Redeem(ctx, rr.ReceiptID, rr.TokenSecret); err != nil {
			t.Fatalf("redeem: %v", err)
		}
	}
	if u, r := e.rows(t, "used_contexts"), e.rows(t, "receipts"); u != 2 || r != 2 {
		t.Fatalf("%d used contexts, %d receipts; want 2 and 2", u, r)
	}
}

// A malformed request is refused before any attestation work: the
// challenge is still open and the same authenticator then succeeds.
func TestAttestIssueMalformed(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	p := e.snp(sim.SNPGuestConfig{})
	c := e.dial(t, p)
	auth := challengeAnswer(t, c, p)
	type extra struct {
		Authenticator []byte `cbor:"authenticator"`
		Receipt       []byte `cbor:"receipt"`
		Debug         bool   `cbor:"debug"`
	}
	good := attestIssueBody(t, api.ReceiptRequest{Requested: map[string]any{"op": "x"}})
	for _, tc := range []struct {
		name, ctype string
		body        []byte
		code        string
	}{
		{"JSON", "application/json", []byte(`{"requested":1}`), "server.bad_attest_issue_request"},
		{"not CBOR", api.MediaAttestIssueRequest, []byte{0xff}, "server.bad_attest_issue_request"},
		{"no authenticator", api.MediaAttestIssueRequest, attestIssueBody(t, map[string]any{"receipt": good}), "server.bad_attest_issue_request"},
		{"no receipt request", api.MediaAttestIssueRequest, attestIssueBody(t, map[string]any{"authenticator": auth}), "server.bad_attest_issue_request"},
		{"unknown member", api.MediaAttestIssueRequest, attestIssueBody(t, extra{auth, good, true}), "server.bad_attest_issue_request"},
		{"receipt request without requested", api.MediaAttestIssueRequest,
			attestIssueBody(t, api.AttestIssueRequest{Authenticator: auth, Receipt: attestIssueBody(t, map[string]any{"audience": "x"})}), "receipt.missing_field"},
		{"too large", api.MediaAttestIssueRequest, make([]byte, 320<<10+1), "server.body_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Do(ctx, "POST", api.PathAttestIssue, tc.ctype, tc.body)
			wantProblem(t, err, tc.code)
		})
	}
	out, err := c.Do(ctx, "POST", api.PathAttestIssue, api.MediaAttestIssueRequest,
		attestIssueBody(t, api.AttestIssueRequest{Authenticator: auth, Receipt: good}))
	if err != nil {
		t.Fatalf("the challenge was spent by a malformed request: %v", err)
	}
	var resp api.AttestIssueResponse
	if err := cbor.Unmarshal(out, &resp); err != nil || len(resp.EAR) == 0 || len(resp.Bundle) == 0 || len(resp.TokenSecret) != receipt.TokenSecretSize {
		t.Fatalf("response %+v: %v", resp, err)
	}
}

// A refused attestation gets the same problem as on POST /v1/attest, and
// nothing is stored.
func TestAttestIssueRefusedAttestation(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	c := e.dial(t, &tlsbind.Prover{Attester: evidence.NewSNPAttester(otherPKI(t).SNP.Guest(sim.SNPGuestConfig{}))})
	_, _, err := c.AttestAndIssue(ctx, map[string]any{"op": "x"}, "")
	wantProblem(t, err, "snp.trust_anchor")
	_, err = c.RequestReceipt(ctx, map[string]any{"op": "x"}, "")
	wantProblem(t, err, "attest.not_attested")
	if u, r := e.rows(t, "used_contexts"), e.rows(t, "receipts"); u != 0 || r != 0 {
		t.Fatalf("%d used contexts, %d receipts after a refusal", u, r)
	}
}

// A failed write fails closed, on both ways to attest: no receipt, no
// attestation, the session failed.
func TestAttestationUnrecordedFailsClosed(t *testing.T) {
	for _, separate := range []bool{false, true} {
		e := start(t, nil)
		ctx := context.Background()
		db, err := sql.Open("sqlite", filepath.Join(e.data, "seatrx.db"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`DROP TABLE used_contexts`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
		if separate {
			_, err = c.Attest(ctx)
		} else {
			_, _, err = c.AttestAndIssue(ctx, map[string]any{"op": "x"}, "")
		}
		wantProblem(t, err, "server.internal")
		_, err = c.RequestReceipt(ctx, map[string]any{"op": "x"}, "")
		wantProblem(t, err, "attest.not_attested")
		if n := e.rows(t, "receipts"); n != 0 {
			t.Fatalf("separate=%v: %d receipts stored without their attestation", separate, n)
		}
	}
}

// An action that needs approvers gets no receipt at once: the attestation
// is recorded, the connection stays attested, and a pending authorization
// is created on it next, as after POST /v1/attest.
func TestAttestIssueApprovalRequired(t *testing.T) {
	e := startAuthz(t, nil)
	ctx := context.Background()
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	refund := map[string]any{"operation": "refund", "amount": 5}
	_, _, err := c.AttestAndIssue(ctx, refund, "")
	wantProblem(t, err, "authz.approval_required")
	if !client.ApprovalRequired(err) || c.LastProof() == nil {
		t.Fatalf("the client does not see the attestation standing: %v", err)
	}
	if u, r := e.rows(t, "used_contexts"), e.rows(t, "receipts"); u != 1 || r != 0 {
		t.Fatalf("%d used contexts, %d receipts; want 1 and 0", u, r)
	}
	v, err := c.CreateAuthorization(ctx, refund, "")
	if err != nil || v.State != client.StatePending {
		t.Fatalf("authorization after the refusal: %+v %v", v, err)
	}
}
