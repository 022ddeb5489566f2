package ear

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"

	vear "github.com/veraison/ear"
)

// b64 is the base64url-without-padding encoding EAT uses for byte strings
// in JSON.
var b64 = base64.RawURLEncoding

// tierOf returns the library trust tier for a status name.
func tierOf(status string) (vear.TrustTier, bool) {
	t, ok := vear.StringToTrustTier[status]
	return t, ok
}

// setTrustClaim stores value v for the AR4SI claim called name in tv.
func setTrustClaim(tv *vear.TrustVector, name string, v int) error {
	if v < math.MinInt8 || v > math.MaxInt8 {
		return fmt.Errorf("%w: trust vector %s=%d outside -128..127", ErrInvalidClaims, name, v)
	}
	c := vear.TrustClaim(v)
	switch name {
	case ClaimInstanceIdentity:
		tv.InstanceIdentity = c
	case ClaimConfiguration:
		tv.Configuration = c
	case ClaimExecutables:
		tv.Executables = c
	case ClaimFileSystem:
		tv.FileSystem = c
	case ClaimHardware:
		tv.Hardware = c
	case ClaimRuntimeOpaque:
		tv.RuntimeOpaque = c
	case ClaimStorageOpaque:
		tv.StorageOpaque = c
	case ClaimSourcedData:
		tv.SourcedData = c
	default:
		return fmt.Errorf("%w: unknown trust vector claim %q", ErrInvalidClaims, name)
	}
	return nil
}

// worstClaim returns the worst tier any claim in tv asserts (ignoring claims
// whose tier is "none", as the library does) and the name of that claim.
// Tiers order affirming < warning < contraindicated, which is also their
// numeric order.
func worstClaim(tv *vear.TrustVector) (vear.TrustTier, string) {
	worst, name := vear.TrustTierNone, ""
	if tv == nil {
		return worst, name
	}
	m := tv.AsMap()
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if t := m[n].GetTier(); t > worst {
			worst, name = t, n
		}
	}
	return worst, name
}

// effectiveStatus is the status an appraisal can be trusted for: its declared
// status, lowered to the worst tier of its trust vector. A declared "none"
// stays "none" (no appraisal is not upgraded by vector claims).
func effectiveStatus(declared vear.TrustTier, tv *vear.TrustVector) vear.TrustTier {
	if declared == vear.TrustTierNone {
		return declared
	}
	if w, _ := worstClaim(tv); w > declared {
		return w
	}
	return declared
}

// toResult maps c onto the library's model of one EAR.
func toResult(c Claims, developer, build string) (*vear.AttestationResult, error) {
	if c.Submod == "" {
		return nil, fmt.Errorf("%w: empty submodule name", ErrInvalidClaims)
	}
	status, ok := tierOf(c.Status)
	if !ok {
		return nil, fmt.Errorf("%w: unknown status %q", ErrInvalidClaims, c.Status)
	}
	if n := len(c.Nonce); n < MinNonceSize || n > MaxNonceSize {
		return nil, fmt.Errorf("%w: nonce is %d bytes, want %d..%d", ErrInvalidClaims, n, MinNonceSize, MaxNonceSize)
	}
	appr := &vear.Appraisal{Status: &status}

	if len(c.TrustVector) > 0 {
		tv := &vear.TrustVector{}
		for name, v := range c.TrustVector {
			if err := setTrustClaim(tv, name, v); err != nil {
				return nil, err
			}
		}
		if status != vear.TrustTierNone {
			if w, name := worstClaim(tv); w > status {
				return nil, fmt.Errorf("%w: status %s but trust vector claim %s is %s",
					ErrInvalidClaims, c.Status, name, w)
			}
		}
		appr.TrustVector = tv
	}
	if c.PolicyID != "" {
		id := c.PolicyID
		appr.AppraisalPolicyID = &id
	}
	if len(c.AKPub) > 0 {
		if _, err := x509.ParsePKIXPublicKey(c.AKPub); err != nil {
			return nil, fmt.Errorf("%w: akpub is not a DER SubjectPublicKeyInfo: %w", ErrInvalidClaims, err)
		}
		appr.VeraisonKeyAttestation = &map[string]any{"akpub": b64.EncodeToString(c.AKPub)}
	}

	annotated := map[string]any{KeySimulated: c.Simulated}
	if len(c.Measurements) > 0 {
		ms := make(map[string]any, len(c.Measurements))
		for name, v := range c.Measurements {
			if name == "" {
				return nil, fmt.Errorf("%w: empty measurement name", ErrInvalidClaims)
			}
			if _, err := hex.DecodeString(v); err != nil || v == "" {
				return nil, fmt.Errorf("%w: measurement %q is not hex", ErrInvalidClaims, name)
			}
			ms[name] = v
		}
		annotated[KeyMeasurements] = ms
	}
	if len(c.EvidenceDigest) > 0 {
		annotated[KeyEvidenceDigest] = b64.EncodeToString(c.EvidenceDigest)
	}
	if len(c.NotEvaluated) > 0 {
		if err := checkNames(c.NotEvaluated); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidClaims, err)
		}
		ne := make([]any, len(c.NotEvaluated))
		for i, n := range c.NotEvaluated {
			ne[i] = n
		}
		annotated[KeyNotEvaluated] = ne
	}
	if len(c.TrustAnchors) > 0 {
		tas := make([]any, len(c.TrustAnchors))
		for i, ta := range c.TrustAnchors {
			if ta == "" {
				return nil, fmt.Errorf("%w: empty trust anchor fingerprint", ErrInvalidClaims)
			}
			tas[i] = ta
		}
		annotated[KeyTrustAnchors] = tas
	}
	appr.VeraisonAnnotatedEvidence = &annotated
	if len(c.PolicyDigest) > 0 {
		appr.VeraisonPolicyClaims = &map[string]any{KeyPolicyDigest: b64.EncodeToString(c.PolicyDigest)}
	}

	iat := c.IssuedAt.Unix()
	nonce := b64.EncodeToString(c.Nonce)
	profile := Profile
	return &vear.AttestationResult{
		Profile:    &profile,
		VerifierID: &vear.VerifierIdentity{Developer: &developer, Build: &build},
		IssuedAt:   &iat,
		Nonce:      &nonce,
		Submods:    map[string]*vear.Appraisal{c.Submod: appr},
	}, nil
}

// errExtension reports a seatrx extension claim of the wrong shape.
var errExtension = errors.New("malformed seatrx extension claim")

// appraisalClaims fills the per-appraisal fields of c from appr. Shapes are
// checked strictly: a seatrx key with the wrong type is an error.
func appraisalClaims(c *Claims, appr *vear.Appraisal) error {
	if appr.TrustVector != nil {
		for name, v := range appr.TrustVector.AsMap() {
			if v == vear.NoClaim {
				continue
			}
			if c.TrustVector == nil {
				c.TrustVector = make(map[string]int)
			}
			c.TrustVector[name] = int(v)
		}
	}
	if appr.AppraisalPolicyID != nil {
		c.PolicyID = *appr.AppraisalPolicyID
	}
	if appr.VeraisonAnnotatedEvidence != nil {
		m := *appr.VeraisonAnnotatedEvidence
		if v, ok := m[KeySimulated]; ok {
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("%w: %s is %T, want bool", errExtension, KeySimulated, v)
			}
			c.Simulated = b
		}
		if v, ok := m[KeyMeasurements]; ok {
			ms, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("%w: %s is %T, want object", errExtension, KeyMeasurements, v)
			}
			c.Measurements = make(map[string]string, len(ms))
			for name, mv := range ms {
				s, ok := mv.(string)
				if !ok {
					return fmt.Errorf("%w: %s[%q] is %T, want hex text", errExtension, KeyMeasurements, name, mv)
				}
				if _, err := hex.DecodeString(s); err != nil {
					return fmt.Errorf("%w: %s[%q] is not hex: %w", errExtension, KeyMeasurements, name, err)
				}
				c.Measurements[name] = s
			}
		}
		if v, ok := m[KeyEvidenceDigest]; ok {
			d, err := b64Claim(KeyEvidenceDigest, v)
			if err != nil {
				return err
			}
			c.EvidenceDigest = d
		}
		if v, ok := m[KeyNotEvaluated]; ok {
			arr, ok := v.([]any)
			if !ok {
				return fmt.Errorf("%w: %s is %T, want array", errExtension, KeyNotEvaluated, v)
			}
			names := make([]string, len(arr))
			for i, e := range arr {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("%w: %s[%d] is %T, want text", errExtension, KeyNotEvaluated, i, e)
				}
				names[i] = s
			}
			if err := checkNames(names); err != nil {
				return fmt.Errorf("%w: %w", errExtension, err)
			}
			c.NotEvaluated = names
		}
		if v, ok := m[KeyTrustAnchors]; ok {
			arr, ok := v.([]any)
			if !ok {
				return fmt.Errorf("%w: %s is %T, want array", errExtension, KeyTrustAnchors, v)
			}
			c.TrustAnchors = make([]string, len(arr))
			for i, e := range arr {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("%w: %s[%d] is %T, want text", errExtension, KeyTrustAnchors, i, e)
				}
				c.TrustAnchors[i] = s
			}
		}
	}
	if appr.VeraisonPolicyClaims != nil {
		if v, ok := (*appr.VeraisonPolicyClaims)[KeyPolicyDigest]; ok {
			d, err := b64Claim(KeyPolicyDigest, v)
			if err != nil {
				return err
			}
			c.PolicyDigest = d
		}
	}
	return nil
}

// b64Claim decodes a base64url text claim value.
func b64Claim(name string, v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%w: %s is %T, want base64url text", errExtension, name, v)
	}
	d, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errExtension, name, err)
	}
	return d, nil
}

// akpubOf returns the DER SPKI in appr's Veraison key attestation, nil if
// the appraisal carries none.
func akpubOf(appr *vear.Appraisal) ([]byte, error) {
	if appr.VeraisonKeyAttestation == nil {
		return nil, nil
	}
	v, ok := (*appr.VeraisonKeyAttestation)["akpub"]
	if !ok {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("akpub is %T, want base64url text", v)
	}
	d, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("akpub: %w", err)
	}
	return d, nil
}

// checkNames enforces the shape of a not-evaluated list: 1..MaxNotEvaluated
// distinct names of 1..64 bytes.
func checkNames(names []string) error {
	if len(names) == 0 || len(names) > MaxNotEvaluated {
		return fmt.Errorf("%s: %d names, want 1..%d", KeyNotEvaluated, len(names), MaxNotEvaluated)
	}
	for i, n := range names {
		if n == "" || len(n) > maxNameLen {
			return fmt.Errorf("%s[%d]: %d bytes, want 1..%d", KeyNotEvaluated, i, len(n), maxNameLen)
		}
		for _, m := range names[:i] {
			if m == n {
				return fmt.Errorf("%s[%d]: duplicate %q", KeyNotEvaluated, i, n)
			}
		}
	}
	return nil
}
