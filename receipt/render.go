package receipt

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// JSON rendering (reference §3.10): for humans only, never signed and never
// verified from. Byte strings are base64url without padding, except the
// receipt and token ids and the kids: lowercase hex, the one spelling the
// API, the logs, the keys tools and receipt verify use too.

type jsonHash struct {
	Alg   string `json:"alg"`
	Value string `json:"value"`
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jh(h Hash) jsonHash { return jsonHash{Alg: HashName(h.Alg), Value: b64(h.Value)} }

type jsonApproval struct {
	Raw     string          `json:"raw"`
	Decoded json.RawMessage `json:"decoded,omitempty"`
	Error   string          `json:"decode_error,omitempty"`
}

// JSON renders the receipt with the draft's field names, for display.
func (r *Receipt) JSON() ([]byte, error) { return r.render(nil) }

// JSONWithReport renders the receipt and appends rep as "verification".
func (r *Receipt) JSONWithReport(rep *Report) ([]byte, error) { return r.render(rep) }

func (r *Receipt) render(rep *Report) ([]byte, error) {
	out := map[string]any{
		"profile":                r.Profile,
		"receipt_id":             hex.EncodeToString(r.ReceiptID),
		"action_hash":            jh(r.ActionHash),
		"policy_hash":            jh(r.PolicyHash),
		"timestamp":              r.Timestamp,
		"timestamp_rfc3339":      unix(r.Timestamp).Format(time.RFC3339),
		"hae_masking_profile_id": r.MaskingProfileID,
		"issuer":                 r.Issuer,
		"subject":                r.Subject,
		"kid":                    hex.EncodeToString(r.KeyID),
	}
	ids := make([]map[string]string, len(r.ApproverIdentities))
	for i, a := range r.ApproverIdentities {
		ids[i] = map[string]string{"id": a.ID, "kid": hex.EncodeToString(a.Kid)}
		if a.Role != "" {
			ids[i]["role"] = a.Role
		}
	}
	out["approver_identities"] = ids
	sigs := make([]jsonApproval, len(r.ApproverSignatures))
	for i, s := range r.ApproverSignatures {
		sigs[i].Raw = b64(s)
		if sa, err := ParseApproval(s); err != nil {
			sigs[i].Error = err.Error()
		} else {
			d, _ := json.Marshal(map[string]any{
				"receipt_id": hex.EncodeToString(sa.ReceiptID), "action_hash": jh(sa.ActionHash), "policy_hash": jh(sa.PolicyHash),
				"attestation_digest": jh(sa.AttestationDigest), "approver": sa.Approver, "decision": sa.Decision,
				"nonce": b64(sa.Nonce), "iat": sa.IssuedAt, "exp": sa.Expires, "aud": sa.Audience, "kid": hex.EncodeToString(sa.KeyID),
			})
			sigs[i].Decoded = d
		}
	}
	out["approver_signatures"] = sigs
	t := r.ExecutionToken
	tok := map[string]any{"id": hex.EncodeToString(t.ID), "digest": jh(t.Digest), "aud": t.Audience, "nbf": t.NotBefore, "exp": t.Expires, "max_uses": t.MaxUses}
	if t.Cnf != nil {
		tok["cnf"] = jh(*t.Cnf)
	}
	out["execution_token"] = tok
	att := map[string]any{"type": r.AttestationToken.MediaType, "value": b64(r.AttestationToken.Value)}
	if r.AttestationToken.MediaType == EARMediaType {
		att["jwt"] = string(r.AttestationToken.Value)
	}
	out["hae_attestation_token"] = att
	if s := r.ContextSnapshot; s != nil {
		snap := map[string]any{
			"tls_version": fmt.Sprintf("0x%04x", s.TLSVersion), "cipher_suite": fmt.Sprintf("0x%04x", s.CipherSuite),
			"cert_request_context": b64(s.CertRequestContext), "binder": b64(s.Binder),
			"peer_key": jh(s.PeerKey), "evidence_digest": jh(s.EvidenceDigest),
			"trust_anchors": s.TrustAnchors, "simulated": s.Simulated,
		}
		if s.SNI != "" {
			snap["sni"] = s.SNI
		}
		if s.Platform != "" {
			snap["platform"] = s.Platform
		}
		for k, v := range map[string]string{"transport": s.Transport, "binder_profile": s.BinderProfile, "binder_label": s.BinderLabel} {
			if v != "" {
				snap[k] = v
			}
		}
		col := make([]map[string]any, len(s.Collateral))
		for i, c := range s.Collateral {
			col[i] = map[string]any{"name": c.Name, "digest": jh(c.Digest)}
		}
		snap["collateral"] = col
		if len(s.Identifiers) > 0 {
			ids := map[string]string{}
			for k, v := range s.Identifiers {
				ids[k] = b64(v)
			}
			snap["identifiers"] = ids
		}
		if len(s.MaskedIdentifiers) > 0 {
			m := map[string]jsonHash{}
			for k, v := range s.MaskedIdentifiers {
				m[k] = jh(v)
			}
			snap["masked_identifiers"] = m
		}
		if s.Mutual != nil {
			snap["mutual"] = map[string]any{"platform": s.Mutual.Platform, "evidence_digest": jh(s.Mutual.EvidenceDigest), "status": s.Mutual.Status}
		}
		if len(s.NotEvaluated) > 0 {
			snap["not_evaluated"] = s.NotEvaluated
		}
		out["context_snapshot"] = snap
	}
	if len(r.Extensions) > 0 {
		ext := map[string]string{}
		for k, v := range r.Extensions {
			enc, err := marshal(v)
			if err != nil {
				return nil, err
			}
			d, err := cbor.Diagnose(enc)
			if err != nil {
				return nil, fmt.Errorf("receipt: diagnose extension %q: %w", k, err)
			}
			ext[k] = d
		}
		out["extensions"] = ext
	}
	if rep != nil {
		out["verification"] = rep
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("receipt: render JSON: %w", err)
	}
	return b, nil
}

var diagMode cbor.DiagMode

func init() {
	var err error
	diagMode, err = cbor.DiagOptions{ByteStringEmbeddedCBOR: true, MaxNestedLevels: 32}.DiagMode()
	if err != nil {
		panic(fmt.Sprintf("receipt: diag mode: %v", err))
	}
}

// Diagnose renders a COSE receipt (or approval) in CBOR extended diagnostic
// notation, with embedded CBOR (protected header, payload, approvals) shown
// as <<...>>. Input is size-limited.
func Diagnose(coseBytes []byte) (string, error) {
	if len(coseBytes) > MaxReceiptSize {
		return "", ferr("cose", CodeTooLarge, "%d bytes exceeds limit %d", len(coseBytes), MaxReceiptSize)
	}
	s, err := diagMode.Diagnose(coseBytes)
	if err != nil {
		return "", fwrap("cose", CodeMalformed, err)
	}
	return s, nil
}

// JSON renders the action for display (an approver reads what it is asked
// to approve): hashes and byte strings as elsewhere, and "requested" as
// JSON when it maps onto JSON (text keys; byte strings as base64url), else
// as CBOR diagnostic notation under "requested_edn".
func (a *Action) JSON() ([]byte, error) {
	out := map[string]any{
		"type": a.Type, "peer_key": jh(a.PeerKey), "binder": b64(a.Binder),
		"cert_request_context": b64(a.CertRequestContext), "server_cert": jh(a.ServerCert),
		"evidence_digest": jh(a.EvidenceDigest),
	}
	if len(a.Requested) > 0 {
		var v any
		if err := decMode.Unmarshal(a.Requested, &v); err == nil {
			if j, ok := jsonValue(v, 0); ok {
				out["requested"] = j
			}
		}
		if out["requested"] == nil {
			d, err := cbor.Diagnose(a.Requested)
			if err != nil {
				return nil, fwrap("requested", CodeMalformed, err)
			}
			out["requested_edn"] = d
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("receipt: render action: %w", err)
	}
	return b, nil
}

// jsonValue maps decoded CBOR onto JSON values; ok is false for what JSON
// cannot say plainly (non-text map keys, non-finite floats, deep nesting).
func jsonValue(v any, depth int) (any, bool) {
	if depth > 16 {
		return nil, false
	}
	switch x := v.(type) {
	case nil, bool, string, int64, uint64:
		return x, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		return x, true
	case []byte:
		return b64(x), true
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			j, ok := jsonValue(e, depth+1)
			if !ok {
				return nil, false
			}
			out[i] = j
		}
		return out, true
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, false
			}
			j, ok := jsonValue(e, depth+1)
			if !ok {
				return nil, false
			}
			out[ks] = j
		}
		return out, true
	}
	return nil, false
}
