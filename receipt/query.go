package receipt

// ApproverQueryType is the COSE typ (label 16) of an approver query: an
// approver's signed request for the pending authorizations that await its
// decision. It is part of seatrx's approval API, not of PRE-RCT: the
// signature authenticates the approver, since approvers are not attested.
const ApproverQueryType = "application/vnd.seatrx.approver-query+cbor"

// ApproverQuery is the statement an approver signs to list what awaits it.
// Audience is the issuer's URI (a query for one server is refused by
// another); IssuedAt bounds its replay to the server's clock skew; Nonce
// makes each query distinct.
type ApproverQuery struct {
	Approver string `cbor:"approver"`
	Audience string `cbor:"aud"`
	IssuedAt uint64 `cbor:"iat"`
	Nonce    []byte `cbor:"nonce"`
}

func (q *ApproverQuery) validate(path string) error {
	switch {
	case q.Approver == "":
		return ferr(join(path, "approver"), CodeBadValue, "empty approver")
	case q.Audience == "":
		return ferr(join(path, "aud"), CodeBadValue, "empty audience")
	case len(q.Nonce) != idLen:
		return ferr(join(path, "nonce"), CodeBadLength, "%d bytes, want %d", len(q.Nonce), idLen)
	case q.IssuedAt > maxUnix:
		return ferr(join(path, "iat"), CodeBadValue, "iat %d beyond year 9999", q.IssuedAt)
	}
	return nil
}

// SignedApproverQuery is a decoded query and the kid of the key that signed it.
type SignedApproverQuery struct {
	ApproverQuery
	KeyID []byte
}

// SignApproverQuery signs q as approver s (q.Approver must be s's name).
func SignApproverQuery(s *Signer, q *ApproverQuery) ([]byte, error) {
	if q.Approver != s.name {
		return nil, ferr("approver", CodeApprovalMismatch, "query names %q, signer is %q", q.Approver, s.name)
	}
	if err := q.validate(""); err != nil {
		return nil, err
	}
	payload, err := marshal(q)
	if err != nil {
		return nil, err
	}
	return signEnvelope(s, ApproverQueryType, "", payload)
}

// ParseApproverQuery decodes a query as strictly as an approval (size at
// most MaxApprovalSize), without verifying its signature: the approver id
// it names selects the key to verify it with (VerifyApproverQuery).
func ParseApproverQuery(data []byte) (*SignedApproverQuery, error) {
	_, q, err := parseQuery(data)
	return q, err
}

func parseQuery(data []byte) (*envelope, *SignedApproverQuery, error) {
	e, err := parseEnvelope("query", data, MaxApprovalSize, ApproverQueryType, false)
	if err != nil {
		return nil, nil, err
	}
	var q ApproverQuery
	if err := decodeStruct(e.payload, "query.payload", &q); err != nil {
		return nil, nil, err
	}
	if err := checkDeterministic("query.payload", e.payload, &q); err != nil {
		return nil, nil, err
	}
	return e, &SignedApproverQuery{ApproverQuery: q, KeyID: e.kid}, nil
}

// VerifyApproverQuery decodes a query and verifies its signature under key;
// the kid must be key's thumbprint and the approver must be key.ID.
// Freshness and audience are the caller's to judge.
func VerifyApproverQuery(data []byte, key TrustedKey) (*SignedApproverQuery, error) {
	e, q, err := parseQuery(data)
	if err != nil {
		return nil, err
	}
	tp, err := Thumbprint(key.Key)
	if err != nil {
		return nil, err
	}
	if string(tp) != string(e.kid) {
		return nil, ferr("query.protected.kid", CodeUnknownKid, "kid does not match the approver's trusted key")
	}
	if err := e.verifyWith("query", key.Key); err != nil {
		return nil, err
	}
	if q.Approver != key.ID {
		return nil, ferr("query.payload.approver", CodeApprovalMismatch, "approver %q, trusted key belongs to %q", q.Approver, key.ID)
	}
	return q, nil
}
