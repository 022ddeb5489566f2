package receipt

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// sign1Wire is the strict shape of the COSE_Sign1 array after tag 18.
type sign1Wire struct {
	_           struct{} `cbor:",toarray"`
	Protected   cbor.RawMessage
	Unprotected cbor.RawMessage
	Payload     cbor.RawMessage
	Signature   cbor.RawMessage
}

// envelope is a structurally checked COSE_Sign1 with its decoded header.
type envelope struct {
	protected []byte // the protected header bstr as encoded (deterministic)
	signature []byte
	alg       cose.Algorithm
	kid       []byte
	typ       string
	iss       string
	sub       string
	payload   []byte
}

// protectedHeaders builds the protected header of a receipt or approval.
func protectedHeaders(s *Signer, typ, sub string) cose.Headers {
	ph := cose.ProtectedHeader{
		cose.HeaderLabelAlgorithm: s.alg,
		cose.HeaderLabelKeyID:     s.kid,
		cose.HeaderLabelType:      typ,
	}
	if sub != "" {
		ph[cose.HeaderLabelCWTClaims] = cose.CWTClaims{cose.CWTClaimIssuer: s.name, cose.CWTClaimSubject: sub}
	}
	return cose.Headers{Protected: ph, Unprotected: cose.UnprotectedHeader{}}
}

// signEnvelope produces a tagged COSE_Sign1 with an attached payload.
func signEnvelope(s *Signer, typ, sub string, payload []byte) ([]byte, error) {
	out, err := cose.Sign1(rand.Reader, s.signer, protectedHeaders(s, typ, sub), payload, nil)
	if err != nil {
		return nil, fmt.Errorf("receipt: sign %s: %w", typ, err)
	}
	return out, nil
}

// SignReceiptPayload signs an existing receipt payload as issuer s, for the
// CWT subject sub: the signing step of Issue, for payloads built elsewhere
// (and for byte-exact signing vectors). The payload is first decoded as
// strictly as Verify would; one this profile refuses is not signed.
func SignReceiptPayload(s *Signer, sub string, payload []byte) ([]byte, error) {
	if s == nil || sub == "" {
		return nil, ferr("cose.protected.cwt_claims", CodeConfig, "a receipt needs a signer and a subject")
	}
	if _, err := decodeReceiptPayload(payload); err != nil {
		return nil, err
	}
	return signEnvelope(s, ReceiptType, sub, payload)
}

// SignApprovalPayload is SignApproval for an approval statement already
// encoded (it must decode strictly and name s as its approver).
func SignApprovalPayload(s *Signer, payload []byte) ([]byte, error) {
	st, err := decodeApproval("payload", payload)
	if err != nil {
		return nil, err
	}
	return SignApproval(s, st)
}

// SigStructure returns the RFC 9052 Sig_structure ("Signature1") that a
// receipt (sub != "") or approval (sub == "") by s over payload signs; used by
// byte-exact signing vectors.
func SigStructure(s *Signer, typ, sub string, payload []byte) ([]byte, error) {
	h := protectedHeaders(s, typ, sub)
	prot, err := h.MarshalProtected()
	if err != nil {
		return nil, fmt.Errorf("receipt: protected header: %w", err)
	}
	return marshal([]any{"Signature1", cbor.RawMessage(prot), []byte{}, payload})
}

// parseEnvelope decodes a tagged COSE_Sign1 strictly and checks its protected
// header (alg allowed, no crit, exact typ, kid present, and for receipts the
// CWT claims iss/sub). It does not verify the signature.
func parseEnvelope(field string, data []byte, limit int, wantTyp string, needClaims bool) (*envelope, error) {
	if len(data) > limit {
		return nil, ferr(field, CodeTooLarge, "%d bytes exceeds limit %d", len(data), limit)
	}
	if len(data) == 0 {
		return nil, ferr(field, CodeMalformed, "empty")
	}
	if data[0] != 0xd2 {
		if data[0] == 0x84 {
			return nil, ferr(field, CodeUntagged, "COSE_Sign1 without tag 18")
		}
		return nil, ferr(field, CodeMalformed, "not a tagged COSE_Sign1 (first byte 0x%02x)", data[0])
	}
	var w sign1Wire
	if err := unmarshal(field, data[1:], &w); err != nil {
		return nil, err
	}
	if err := checkDeterministic(field, data[1:], &w); err != nil {
		return nil, err
	}
	var prot []byte
	if err := unmarshal(field+".protected", w.Protected, &prot); err != nil {
		return nil, headerFailure(err)
	}
	var ph map[any]any
	if err := unmarshal(field+".protected", prot, &ph); err != nil {
		return nil, headerFailure(err)
	}
	if err := checkDeterministic(field+".protected", prot, ph); err != nil {
		return nil, headerFailure(err)
	}
	if !bytes.Equal(w.Unprotected, []byte{0xa0}) {
		return nil, headerFailure(ferr(field+".unprotected", CodeUnprotectedHeader, "the profile (v1, v2) defines no unprotected header parameters"))
	}
	var payload, sig []byte
	if err := unmarshal(field+".payload", w.Payload, &payload); err != nil {
		return nil, err
	}
	if payload == nil {
		return nil, ferr(field+".payload", CodeMissingField, "detached payload")
	}
	if err := unmarshal(field+".signature", w.Signature, &sig); err != nil {
		return nil, err
	}
	if len(sig) == 0 {
		return nil, ferr(field+".signature", CodeMissingField, "empty signature")
	}
	e := &envelope{protected: w.Protected, signature: sig, payload: payload}
	h := ph
	if crit, ok := h[uint64(cose.HeaderLabelCritical)]; ok {
		return nil, headerFailure(ferr(field+".protected.crit", CodeUnknownCrit, "critical header parameters %v not understood", crit))
	}
	for label := range h {
		switch label {
		case uint64(cose.HeaderLabelAlgorithm), uint64(cose.HeaderLabelKeyID), uint64(cose.HeaderLabelType), uint64(cose.HeaderLabelCWTClaims):
		default:
			return nil, headerFailure(ferr(field+".protected", CodeUnknownField, "unexpected protected header label %v", label))
		}
	}
	var alg cose.Algorithm
	switch v := h[uint64(cose.HeaderLabelAlgorithm)].(type) {
	case int64:
		alg = cose.Algorithm(v)
	case uint64:
		alg = cose.Algorithm(min(v, 1<<62))
	default:
		return nil, headerFailure(ferr(field+".protected.alg", CodeAlgNotAllowed, "alg absent or not an integer"))
	}
	switch alg {
	case cose.AlgorithmES256, cose.AlgorithmES384, cose.AlgorithmEdDSA:
	default:
		return nil, headerFailure(ferr(field+".protected.alg", CodeAlgNotAllowed, "algorithm %v not allowed", alg))
	}
	e.alg = alg
	typ, ok := h[uint64(cose.HeaderLabelType)].(string)
	if !ok {
		return nil, headerFailure(ferr(field+".protected.typ", CodeWrongTyp, "typ absent or not text"))
	}
	if typ != wantTyp {
		return nil, headerFailure(ferr(field+".protected.typ", CodeWrongTyp, "typ %q, want %q", typ, wantTyp))
	}
	e.typ = typ
	kid, ok := h[uint64(cose.HeaderLabelKeyID)].([]byte)
	if !ok || len(kid) == 0 {
		return nil, headerFailure(ferr(field+".protected.kid", CodeMissingField, "kid absent or not bytes"))
	}
	e.kid = kid
	claims, hasClaims := h[uint64(cose.HeaderLabelCWTClaims)]
	if needClaims != hasClaims {
		return nil, headerFailure(ferr(field+".protected.cwt_claims", CodeMissingField, "CWT claims presence %v, want %v", hasClaims, needClaims))
	}
	if needClaims {
		cm, ok := claims.(map[any]any)
		if !ok || len(cm) != 2 {
			return nil, headerFailure(ferr(field+".protected.cwt_claims", CodeBadValue, "want exactly {1: iss, 2: sub}"))
		}
		iss, ok1 := cm[uint64(cose.CWTClaimIssuer)].(string)
		sub, ok2 := cm[uint64(cose.CWTClaimSubject)].(string)
		if !ok1 || !ok2 || iss == "" || sub == "" {
			return nil, headerFailure(ferr(field+".protected.cwt_claims", CodeBadValue, "iss and sub must be non-empty text"))
		}
		e.iss, e.sub = iss, sub
	}
	return e, nil
}

// headerError marks a failure of the COSE header (protected or unprotected)
// as opposed to the COSE_Sign1 structure, so that Verify reports it under
// the header check. It is the FieldError it wraps in every other respect.
type headerError struct{ *FieldError }

// Unwrap returns the FieldError.
func (e headerError) Unwrap() error { return e.FieldError }

// headerFailure marks err (a *FieldError) as a header failure.
func headerFailure(err error) error {
	fe, ok := err.(*FieldError)
	if !ok {
		return err
	}
	return headerError{fe}
}

// verifyWith checks the envelope signature under pub, first checking that the
// header algorithm is the one pub's type implies.
func (e *envelope) verifyWith(field string, pub crypto.PublicKey) error {
	want, err := algForKey(pub)
	if err != nil {
		return err
	}
	if want != e.alg {
		return ferr(field+".protected.alg", CodeAlgKeyMismatch, "header alg %v but key requires %v", e.alg, want)
	}
	v, err := cose.NewVerifier(e.alg, pub)
	if err != nil {
		return fwrap(field, CodeAlgKeyMismatch, err)
	}
	// Sig_structure (RFC 9052 §4.4) over the protected bytes exactly as
	// received; they are already known to be deterministic.
	tbs, err := marshal([]any{"Signature1", cbor.RawMessage(e.protected), []byte{}, e.payload})
	if err != nil {
		return fwrap(field, CodeMalformed, err)
	}
	if err := v.Verify(tbs, e.signature); err != nil {
		return fwrap(field, CodeBadSignature, err)
	}
	return nil
}
