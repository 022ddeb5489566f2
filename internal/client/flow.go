package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/capture"
	"github.com/seatrx/seatrx/internal/datagram"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
	"github.com/seatrx/seatrx/verify"
)

// Flow describes one attested session from handshake to verified receipt.
type Flow struct {
	Server    string
	Roots     *x509.CertPool
	Prover    *tlsbind.Prover
	Checker   *tlsbind.Checker // for Mutual
	Mutual    bool             // demand the server's evidence first
	Profile   tlsbind.Profile  // the interop profile; zero = tlsbind.DefaultProfile()
	Requested any              // the operation to authorize
	Audience  string
	// OnPending, if set, is called when the authorization has to wait for
	// approvers, and on each change while it waits (approvals, denials).
	// The flow waits, on the same connection, until it completes, is
	// denied or expires, or ctx ends.
	OnPending func(*api.Authorization)
	// Redeem consumes the execution token on the same connection, once.
	Redeem bool
	// ShowSingleUse, with Redeem, then presents the token a second time to
	// show that the server refuses it (the demo does; a client does not,
	// since the refusal counts as a replay attempt on the server).
	ShowSingleUse bool
	// Separate attests (POST /v1/attest) and then asks for the receipt
	// through an authorization (POST /v1/authorizations), instead of
	// attesting and issuing in one request (POST /v1/attest/issue, see
	// Conn.AttestAndIssue), which is the default and falls back to an
	// authorization only for an action that needs approvers.
	Separate bool
	// AllowSimulated accepts simulated evidence in the receipt's verification;
	// SimulatedPKI pins which simulated roots.
	AllowSimulated bool
	SimulatedPKI   *sim.PKI
	// Timeouts of the connection's steps, as in Config (zero: the defaults).
	ConnectTimeout, HandshakeTimeout, RequestTimeout time.Duration
	// KeyLog and Dump are Config's debugging aids.
	KeyLog io.Writer
	Dump   *capture.Dump
	// DTLSAddr, if set, attests and gets the receipt over DTLS 1.3 at this
	// host:port (the server's --dtls listener, docs/PROTOCOL.md §13)
	// instead of on the HTTPS connection; the keys document still comes
	// from Server. Mutual, Separate, Redeem and approvals are HTTPS only.
	DTLSAddr string
	// DTLSTransport tunes the DTLS exchange (zero: the defaults).
	DTLSTransport datagram.Config
}

// Outcome is what a Flow produced; fields are set as far as the flow got.
type Outcome struct {
	TLS     tls.ConnectionState
	DTLS    *DTLSInfo       // set instead of TLS when the flow ran over DTLS
	Stats   datagram.Stats  // the DTLS transport's counters
	Server  *tlsbind.Result // the server's attestation (Mutual)
	EAR     []byte          // the server's EAR about us
	Receipt *api.ReceiptResponse
	// Authorization is the authorization the receipt completed (or, on
	// failure, its last reading).
	Authorization *api.Authorization
	KeysDoc       []byte
	Keys          *receipt.Keys
	Report        *receipt.Report // offline verification of the receipt (audit mode)
	Redemption    *api.RedeemResponse
	SecondRedeem  error // the refusal of the second redemption (ShowSingleUse)
	Timings       Timings
	Total         time.Duration
}

// CheckOwnReceipt checks that a verified receipt's action is about this
// client's own attestation (binder and request context of its proof) and
// operation (requested, in deterministic CBOR): a valid receipt issued to
// someone else, or for something else, is refused.
func CheckOwnReceipt(a *receipt.Action, p *tlsbind.Proof, requested any) error {
	if a == nil || p == nil {
		return fmt.Errorf("client: cannot match the receipt to our attestation")
	}
	if !bytes.Equal(a.Binder, p.Binder.Binding) {
		return fmt.Errorf("client: the receipt's binder %x is not our attestation's %x", a.Binder, p.Binder.Binding)
	}
	want, err := detEnc.Marshal(requested)
	if err != nil {
		return fmt.Errorf("client: encode requested: %w", err)
	}
	if !bytes.Equal(a.Requested, want) {
		return fmt.Errorf("client: the receipt authorizes another operation than the one requested")
	}
	return nil
}

func profileIDs(ps []api.Profile) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// detEnc is the deterministic CBOR encoding the server applies to "requested".
var detEnc, _ = cbor.CoreDetEncOptions().EncMode()

// authorize creates an authorization for f.Requested on c's attested
// connection, waits for its approvers if it needs any, and returns its
// receipt; o records the authorization.
func (c *Conn) authorize(ctx context.Context, f Flow, o *Outcome) (*api.ReceiptResponse, error) {
	v, err := c.CreateAuthorization(ctx, f.Requested, f.Audience)
	if err != nil {
		return nil, err
	}
	o.Authorization = v
	secret := v.TokenSecret
	if v.State == StatePending {
		if f.OnPending != nil {
			f.OnPending(v)
		}
		v, err = c.Await(ctx, v.ID, v, f.OnPending)
		if v != nil {
			o.Authorization = v
		}
		if err != nil {
			return nil, err
		}
	}
	if v.State != StateCompleted {
		return nil, &EndedError{ID: v.ID, State: v.State}
	}
	return ReceiptOf(v, secret)
}

// Run performs f on one new connection: attest and obtain the receipt for
// f.Requested in one request (with Mutual, verify the server first), or,
// when the action needs approvers or f.Separate, create an authorization
// and wait for its approvers, verify the receipt offline under the server's
// published policy, check it is about this attestation and operation, and
// with Redeem, redeem its token.
func Run(ctx context.Context, f Flow) (*Outcome, error) {
	if f.DTLSAddr != "" {
		return runDTLS(ctx, f)
	}
	start := time.Now()
	c, err := Dial(ctx, Config{Server: f.Server, Roots: f.Roots, Prover: f.Prover, Checker: f.Checker, Profile: f.Profile,
		ConnectTimeout: f.ConnectTimeout, HandshakeTimeout: f.HandshakeTimeout, RequestTimeout: f.RequestTimeout,
		KeyLog: f.KeyLog, Dump: f.Dump})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	o := &Outcome{TLS: c.ConnectionState()}
	defer func() { o.Timings = c.Timings(); o.Total = time.Since(start) }()
	// A server that does not accept our profile is told apart before any
	// evidence is made (the server would name the mismatch too, later).
	caps, err := c.Capabilities(ctx)
	if err != nil {
		return o, fmt.Errorf("client: capabilities: %w", err)
	}
	if err := tlsbind.CheckAccepted(c.Profile(), profileIDs(caps.Profiles)); err != nil {
		return o, err
	}
	if f.Mutual {
		if o.Server, err = c.AttestServer(ctx); err != nil {
			return o, err
		}
	}
	if !f.Separate {
		// One request attests and issues; an action that needs approvers
		// is refused with the attestation recorded, and goes on below.
		o.EAR, o.Receipt, err = c.AttestAndIssue(ctx, f.Requested, f.Audience)
		if err != nil && !ApprovalRequired(err) {
			return o, err
		}
	} else if o.EAR, err = c.Attest(ctx); err != nil {
		return o, err
	}
	if o.Receipt == nil {
		if o.Receipt, err = c.authorize(ctx, f, o); err != nil {
			return o, err
		}
	}
	if o.Keys, o.KeysDoc, err = c.Keys(ctx); err != nil {
		return o, err
	}
	if err := o.verify(f, c.LastProof()); err != nil {
		return o, err
	}
	if f.Redeem {
		if o.Redemption, err = c.Redeem(ctx, o.Receipt.ReceiptID, o.Receipt.TokenSecret); err != nil {
			return o, err
		}
		if f.ShowSingleUse {
			_, o.SecondRedeem = c.Redeem(ctx, o.Receipt.ReceiptID, o.Receipt.TokenSecret)
			if o.SecondRedeem == nil {
				return o, fmt.Errorf("client: the server accepted an execution token twice")
			}
		}
	}
	return o, nil
}

// verify checks the issued receipt offline under the policy it was issued
// under, the one the server publishes in its keys document (its approvers,
// per action, are in it), and that it is about proof and f.Requested.
func (o *Outcome) verify(f Flow, proof *tlsbind.Proof) error {
	pol, err := policy.ParseCanonical(o.Keys.PolicyCBOR)
	if err != nil {
		return fmt.Errorf("client: the server's policy: %w", err)
	}
	o.Report, err = verify.Bundle(o.Receipt.Bundle, o.Keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: f.AllowSimulated, SimulatedPKI: f.SimulatedPKI, Policy: pol})
	if err != nil {
		return fmt.Errorf("client: the issued receipt does not verify: %w", err)
	}
	if !o.Report.OK {
		return fmt.Errorf("client: the issued receipt does not verify")
	}
	return CheckOwnReceipt(o.Report.Action, proof, f.Requested)
}
