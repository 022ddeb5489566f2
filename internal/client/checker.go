package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/policy"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
	"github.com/seatrx/seatrx/verify"
)

// MaxKeysSize bounds a keys document.
const MaxKeysSize = 1 << 20

// ParseKeys decodes a keys document (the body of GET /v1/keys).
func ParseKeys(b []byte) (*api.Keys, error) {
	if len(b) > MaxKeysSize {
		return nil, fmt.Errorf("keys document is %d bytes, limit %d", len(b), MaxKeysSize)
	}
	dm, err := cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF, ExtraReturnErrors: cbor.ExtraDecErrorUnknownField}.DecMode()
	if err != nil {
		return nil, err
	}
	var k api.Keys
	if err := dm.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("keys document: %w", err)
	}
	return &k, nil
}

// TrustOptions says what a receipt verifier accepts beyond the server's keys.
type TrustOptions struct {
	// AllowSimulated accepts receipts whose evidence chained to a simulated
	// PKI (and their "warning" EARs). Only for dev servers.
	AllowSimulated bool
	// SimulatedPKI, if set with AllowSimulated, pins which simulated roots are
	// acceptable; without it any simulated root is (the trust_anchors check
	// then reports "skipped", never "pass").
	SimulatedPKI *sim.PKI
	// Policy, if set, is the verifier's own policy: its approvers and
	// threshold replace the server's appraiser-only default, its trust
	// anchors (if any) restrict the acceptable roots, and its clock skew and
	// max age drive online verification. Never taken from the receipt.
	Policy *policy.Policy
}

// anchors lists the acceptable trust-anchor fingerprints: the vendors' roots
// embedded in go-sev-guest and go-tdx-guest, plus the simulated PKI's when
// explicitly trusted. nil means "not pinned".
func (o TrustOptions) anchors() []string {
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

// ReceiptTrust builds the receipt trust store from a server's keys document:
// the issuer key for its issuer name, the appraiser as the 1-of-1 approver,
// and the EAR verifier key. These come from the verifier's configuration,
// never from the receipt itself.
func ReceiptTrust(k *api.Keys, o TrustOptions) (receipt.TrustStore, error) {
	ik, err := receipt.ParseCOSEKey(k.IssuerKey)
	if err != nil {
		return receipt.TrustStore{}, fmt.Errorf("issuer key: %w", err)
	}
	ak, err := receipt.ParseCOSEKey(k.Appraiser)
	if err != nil {
		return receipt.TrustStore{}, fmt.Errorf("appraiser key: %w", err)
	}
	vk, err := receipt.ParseCOSEKey(k.Verifier)
	if err != nil {
		return receipt.TrustStore{}, fmt.Errorf("verifier key: %w", err)
	}
	accepted := []string{ear.StatusAffirming}
	if o.AllowSimulated {
		accepted = append(accepted, ear.StatusWarning)
	}
	// The EAR in a receipt is the server's own (background check) or a
	// trusted external verifier's (passport model): accept either signer.
	vid, err := ear.KeyID(vk)
	if err != nil {
		return receipt.TrustStore{}, fmt.Errorf("verifier key: %w", err)
	}
	trusted := []ear.TrustedVerifier{{ID: vid, Key: vk}}
	if p := o.Policy; p != nil && p.Passport != nil {
		for _, v := range p.Passport.Verifiers {
			key, err := policy.ParsePublicKey(v.PublicKeyPEM)
			if err != nil {
				return receipt.TrustStore{}, fmt.Errorf("policy passport verifier %q: %w", v.ID, err)
			}
			trusted = append(trusted, ear.TrustedVerifier{ID: v.ID, Key: key})
		}
	} else {
		for i, b := range k.PassportVerifiers {
			key, err := receipt.ParseCOSEKey(b)
			if err != nil {
				return receipt.TrustStore{}, fmt.Errorf("passport verifier %d: %w", i, err)
			}
			trusted = append(trusted, ear.TrustedVerifier{ID: fmt.Sprintf("passport-%d", i), Key: key})
		}
	}
	earCheck, err := verify.NewEARChecker(verify.EAROptions{Trusted: trusted, AcceptedStatuses: accepted})
	if err != nil {
		return receipt.TrustStore{}, err
	}
	ts := receipt.TrustStore{
		Issuers:        []receipt.TrustedKey{{ID: "issuer", Key: ik, Issuer: k.Issuer}},
		Approvers:      []receipt.TrustedKey{{ID: "appraiser", Key: ak}},
		Threshold:      1,
		EAR:            earCheck,
		AllowSimulated: o.AllowSimulated,
		TrustAnchors:   o.anchors(),
	}
	if p := o.Policy; p != nil {
		if len(p.Receipts.Approvers) > 0 {
			ts.Approvers = nil
			for _, a := range p.Receipts.Approvers {
				key, err := policy.ParsePublicKey(a.PublicKeyPEM)
				if err != nil {
					return receipt.TrustStore{}, fmt.Errorf("policy approver %q: %w", a.ID, err)
				}
				ts.Approvers = append(ts.Approvers, receipt.TrustedKey{ID: a.ID, Key: key})
			}
			ts.Threshold = p.Receipts.Threshold
		}
		if len(p.TrustAnchors) > 0 {
			ts.TrustAnchors = p.TrustAnchors
		}
	}
	return ts, nil
}

// VerifyBundle verifies a receipt bundle against a keys document in mode.
// Online mode uses now and a fresh replay cache (a long-running verifier
// should keep its own); audit mode ignores now.
func VerifyBundle(bundle []byte, k *api.Keys, mode receipt.Mode, now time.Time, o TrustOptions) (*receipt.Report, error) {
	b, err := receipt.UnmarshalBundle(bundle)
	if err != nil {
		return nil, err
	}
	ts, err := ReceiptTrust(k, o)
	if err != nil {
		return nil, err
	}
	opts := receipt.VerifyOptions{Mode: mode, Trust: ts}
	if mode == receipt.ModeOnline {
		opts.Now, opts.Replay = now, receipt.NewMemoryReplayCache()
		if p := o.Policy; p != nil {
			opts.Skew, opts.MaxAge = time.Duration(p.Receipts.ClockSkew), time.Duration(p.Receipts.MaxAge)
		}
	}
	return receipt.Verify(b, opts)
}

// NewChecker returns a Checker that verifies a peer's (the server's) evidence
// against the vendors' roots and, only if simPKI is given, the simulated ones.
// Its EARs are signed with a throwaway key: they record what this client saw.
func NewChecker(simPKI *sim.PKI, pol *policy.Policy) (*tlsbind.Checker, error) {
	if pol == nil {
		pol = policy.Default()
	}
	cfg := evidence.Config{SNPRoots: []*snp.Roots{snp.ProductionRoots()}, TDXRoots: []*tdx.Roots{tdx.ProductionRoots()}, Policy: pol}
	if simPKI != nil {
		cfg.SNPRoots = append(cfg.SNPRoots, simPKI.SNP.Roots())
		cfg.TDXRoots = append(cfg.TDXRoots, simPKI.TDX.Roots())
	}
	v, err := evidence.NewVerifier(cfg)
	if err != nil {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	iss, err := ear.NewIssuer(k, "seatrx", "seatrx-client")
	if err != nil {
		return nil, err
	}
	return &tlsbind.Checker{Verifier: v, Issuer: iss}, nil
}
