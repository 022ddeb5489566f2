package verify

import (
	"crypto"
	"fmt"
	"time"

	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
)

// Options says how to verify and what to trust beyond the issuer's keys
// document. Everything here is the verifier's own choice; nothing is ever
// taken from the receipt.
type Options struct {
	// Mode is receipt.ModeOnline (the zero value: judged against Now, with a
	// replay check) or receipt.ModeAudit (no clock: the timestamp must lie
	// inside the issuer key's validity window).
	Mode receipt.Mode
	// Now is the verifier's clock in online mode; zero means time.Now().
	Now time.Time
	// Replay is the online replay cache; nil means a fresh in-memory cache,
	// which can only catch replays within one call: a long-running verifier
	// passes its own.
	Replay receipt.ReplayCache
	// NoReplayCache is for a one-shot verifier (a CLI run) that keeps no
	// replay history: no cache is used and the replay check is reported as
	// skipped, never passed. Replay must then be nil.
	NoReplayCache bool
	// AllowSimulated accepts receipts whose evidence chained to a simulated
	// (test) PKI, and their "warning" EARs. Never for production receipts.
	AllowSimulated bool
	// SimulatedPKI, with AllowSimulated, pins which simulated roots are
	// acceptable; without it any simulated root is, and the trust_anchors
	// check then reports "skipped", never "pass".
	SimulatedPKI *sim.PKI
	// Policy, if set, is the verifier's own policy: the approvers and
	// threshold of the rule it selects for the receipt's action are
	// required on top of the issuer's appraiser, its trust anchors
	// restrict the acceptable roots, its passport verifiers replace the
	// keys document's, and its receipt clock knobs drive online mode.
	Policy *policy.Policy
}

// Bundle verifies a receipt bundle (CBOR, as GET /v1/receipts/{id} or a
// client returns it) against the issuer's keys document. The report says
// which checks passed, failed or could not be made; the error is the first
// failure (with a namespaced code: receipt.ProblemCode).
func Bundle(bundle []byte, keys *receipt.Keys, o Options) (*receipt.Report, error) {
	b, err := receipt.UnmarshalBundle(bundle)
	if err != nil {
		return nil, err
	}
	vo, err := VerifyOptions(keys, o)
	if err != nil {
		return nil, err
	}
	return receipt.Verify(b, vo)
}

// VerifyOptions returns the receipt.VerifyOptions that Bundle uses, for a
// caller that verifies receipts itself (receipt.Verify, VerifyReceipt).
func VerifyOptions(keys *receipt.Keys, o Options) (receipt.VerifyOptions, error) {
	ts, err := Trust(keys, o)
	if err != nil {
		return receipt.VerifyOptions{}, err
	}
	vo := receipt.VerifyOptions{Mode: o.Mode, Trust: ts}
	if o.Mode == receipt.ModeOnline {
		vo.Now, vo.Replay = o.Now, o.Replay
		if vo.Now.IsZero() {
			vo.Now = time.Now()
		}
		vo.NoReplay = o.NoReplayCache
		if vo.Replay == nil && !o.NoReplayCache {
			vo.Replay = receipt.NewMemoryReplayCache()
		}
		if p := o.Policy; p != nil {
			vo.Skew, vo.MaxAge = time.Duration(p.Receipts.ClockSkew), p.Receipts.OnlineMaxAge()
		}
	}
	return vo, nil
}

// Trust builds the receipt trust store from the issuer's keys document and
// o: the issuer key for its issuer name; the issuer's appraiser as the
// 1-of-1 approver, plus, with a policy, the approvers and threshold of the
// rule the policy selects for each receipt's action; the EAR
// verifier (evidence/ear) trusting the issuer's EAR key and its passport
// verifiers (or the policy's); and the acceptable trust anchors.
func Trust(keys *receipt.Keys, o Options) (receipt.TrustStore, error) {
	if keys == nil {
		return receipt.TrustStore{}, fmt.Errorf("verify: no keys document")
	}
	issuers, err := keys.IssuerKeys()
	if err != nil {
		return receipt.TrustStore{}, err
	}
	approvers, err := keys.ApproverKeys()
	if err != nil {
		return receipt.TrustStore{}, err
	}
	ts := receipt.TrustStore{
		Issuers: issuers, Approvers: approvers, Threshold: 1,
		AllowSimulated: o.AllowSimulated, TrustAnchors: o.anchors(),
	}
	if ts.EAR, err = issuerEARChecker(keys, o); err != nil {
		return receipt.TrustStore{}, err
	}
	p := o.Policy
	if p == nil {
		return ts, nil
	}
	if ts.ApproversFor, err = policyApprovers(p, approvers); err != nil {
		return receipt.TrustStore{}, err
	}
	ts.Approvers, ts.Threshold = nil, 0
	if len(p.TrustAnchors) > 0 {
		ts.TrustAnchors = p.TrustAnchors
	}
	return ts, nil
}

// policyApprovers returns the trust store's ApproversFor for policy p: the
// approvers and threshold of the rule p selects for the action, plus the
// issuer's appraiser (appraisers, from the keys document), whose approval is
// required on every receipt. The appraiser counts toward the threshold only
// if p lists its key among the rule's approvers (under p's id for it);
// otherwise the threshold is the rule's plus one.
func policyApprovers(p *policy.Policy, appraisers []receipt.TrustedKey) (func(*receipt.Action) (receipt.ApproverSet, error), error) {
	keys := map[string]receipt.TrustedKey{}
	appraiserID := receipt.AppraiserID
	for _, a := range p.Receipts.Approvers {
		key, err := policy.ParsePublicKey(a.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("verify: policy approver %q: %w", a.ID, err)
		}
		keys[a.ID] = receipt.TrustedKey{ID: a.ID, Key: key, Role: a.Role}
		for _, ap := range appraisers {
			if eq, ok := key.(interface{ Equal(crypto.PublicKey) bool }); ok && eq.Equal(ap.Key) {
				appraiserID = a.ID
			}
		}
	}
	rules := len(p.Receipts.ApprovalRules) > 0
	return func(a *receipt.Action) (receipt.ApproverSet, error) {
		var requested []byte
		if a != nil {
			requested = a.Requested
		} else if rules {
			return receipt.ApproverSet{}, fmt.Errorf("the policy chooses approvers by the action, and the bundle carries no action preimage")
		}
		rule, err := p.Receipts.SelectRule(requested)
		if err != nil {
			return receipt.ApproverSet{}, err
		}
		set := receipt.ApproverSet{Threshold: rule.Threshold, Required: []string{appraiserID}}
		counted := false
		for _, ra := range rule.Approvers {
			set.Approvers = append(set.Approvers, keys[ra.ID])
			counted = counted || ra.ID == appraiserID
		}
		if !counted {
			for _, ap := range appraisers {
				ap.ID = appraiserID
				set.Approvers = append(set.Approvers, ap)
			}
			set.Threshold++
		}
		return set, nil
	}, nil
}

// issuerEARChecker trusts the EAR signers of the issuer's receipts: its own
// verifier key (background check) and the external verifiers of the passport
// model, from the verifier's policy if it has a passport section, else from
// the keys document. Keys are identified as on the wire: by their RFC 7638
// thumbprint (the kid ear.Issuer writes), or by the policy's verifier ids.
func issuerEARChecker(keys *receipt.Keys, o Options) (receipt.EARChecker, error) {
	tks, err := keys.EARVerifierKeys()
	if err != nil {
		return nil, err
	}
	var trusted []ear.TrustedVerifier
	windows := map[string]receipt.TrustedKey{}
	for _, k := range tks {
		if k.Role != receipt.RoleEARVerifier && o.Policy != nil && o.Policy.Passport != nil {
			continue // the verifier's policy names its passport verifiers
		}
		id, err := ear.KeyID(k.Key)
		if err != nil {
			return nil, fmt.Errorf("verify: EAR verifier key: %w", err)
		}
		trusted = append(trusted, ear.TrustedVerifier{ID: id, Key: k.Key})
		k.ID = id
		windows[id] = k
	}
	if p := o.Policy; p != nil && p.Passport != nil {
		for _, v := range p.Passport.Verifiers {
			key, err := policy.ParsePublicKey(v.PublicKeyPEM)
			if err != nil {
				return nil, fmt.Errorf("verify: policy passport verifier %q: %w", v.ID, err)
			}
			trusted = append(trusted, ear.TrustedVerifier{ID: v.ID, Key: key})
			windows[v.ID] = receipt.TrustedKey{ID: v.ID, Key: key, Role: "passport-verifier"}
		}
	}
	accepted := []string{ear.StatusAffirming}
	if o.AllowSimulated {
		accepted = append(accepted, ear.StatusWarning)
	}
	return newEARChecker(EAROptions{Trusted: trusted, AcceptedStatuses: accepted}, windows)
}

// anchors lists the acceptable trust-anchor fingerprints: the vendors' roots
// embedded in go-sev-guest and go-tdx-guest, plus the simulated PKI's when
// explicitly trusted. nil means "not pinned".
func (o Options) anchors() []string {
	if o.AllowSimulated && o.SimulatedPKI == nil {
		return nil
	}
	fps := append(snp.ProductionRoots().Fingerprints(), tdx.ProductionRoots().Fingerprints()...)
	if o.AllowSimulated {
		fps = append(fps, o.SimulatedPKI.SNP.Roots().Fingerprints()...)
		fps = append(fps, o.SimulatedPKI.TDX.Roots().Fingerprints()...)
	}
	return fps
}
