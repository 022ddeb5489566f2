package authz

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/receipt"
)

// RecordVersion is the version of Record this code writes and reads.
const RecordVersion = 1

// Record is what the server keeps about an authorization to issue its
// receipt later, possibly after a restart: everything receipt.Issue needs
// that is not in the server's configuration, fixed when the authorization
// was created. The store keeps it as opaque bytes (Encode).
type Record struct {
	Version int `cbor:"v"`
	// Action is the action preimage (deterministic CBOR).
	Action []byte `cbor:"action"`
	// PolicyID and PolicyHash name the policy the authorization was made
	// under; it completes only under the same policy.
	PolicyID   string       `cbor:"policy_id"`
	PolicyHash receipt.Hash `cbor:"policy_hash"`
	// EAR is the attestation result about the requester.
	EAR []byte `cbor:"ear"`
	// Snapshot is the connection and appraisal context at creation.
	Snapshot *receipt.ContextSnapshot `cbor:"snapshot,omitempty"`
	// Issuer is the issuer's URI (the approvals' aud and the receipt's iss).
	Issuer string `cbor:"iss"`
	// Audience is the execution token's audience.
	Audience string `cbor:"aud"`
	// Subject is the receipt's CWT sub ("" = the default, from the peer
	// key; a SPIFFE ID when the requester holds a credential).
	Subject string `cbor:"subject,omitempty"`
	// RequesterKeys (SHA-256 of each SubjectPublicKeyInfo) and RequesterID
	// (a SPIFFE ID, or "") are who created the authorization: a connection
	// that proves one of these keys or this workload identity gets its
	// receipt.
	RequesterKeys [][]byte `cbor:"requester_keys,omitempty"`
	RequesterID   string   `cbor:"requester_id,omitempty"`
	// TokenDigest is SHA-256 of the execution token's secret, which was
	// handed to the requester once at creation and is not kept.
	TokenDigest []byte `cbor:"token_digest"`
	// Rule names the policy rule that chose the approvers.
	Rule string `cbor:"rule"`
	// Appraiser is the id the server's appraiser approves under.
	Appraiser string `cbor:"appraiser"`
	// Approvers may decide, as the receipt will name them.
	Approvers []Approver `cbor:"approvers"`
}

// Approver is one approver of an authorization: its id, role and the
// thumbprint (kid) of the key the policy gives it.
type Approver struct {
	ID   string `cbor:"id"`
	Role string `cbor:"role,omitempty"`
	Kid  []byte `cbor:"kid"`
}

// Approver returns the approver with id, or nil.
func (r *Record) Approver(id string) *Approver {
	for i := range r.Approvers {
		if r.Approvers[i].ID == id {
			return &r.Approvers[i]
		}
	}
	return nil
}

// Encode returns the record as CBOR.
func (r *Record) Encode() ([]byte, error) {
	r.Version = RecordVersion
	b, err := recordEnc.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("authz: encode record: %w", err)
	}
	return b, nil
}

// DecodeRecord reads a record written by Encode. A record of another
// version, or damaged, is an error: the server cannot issue from it.
func DecodeRecord(b []byte) (*Record, error) {
	var r Record
	if err := recordDec.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("authz: decode record: %w", err)
	}
	if r.Version != RecordVersion {
		return nil, fmt.Errorf("authz: record version %d, this server reads %d", r.Version, RecordVersion)
	}
	if len(r.Action) == 0 || len(r.EAR) == 0 || len(r.TokenDigest) == 0 || r.Issuer == "" {
		return nil, errors.New("authz: record lacks its action, EAR, token digest or issuer")
	}
	return &r, nil
}

var (
	recordEnc = func() cbor.EncMode {
		em, err := cbor.CoreDetEncOptions().EncMode()
		if err != nil {
			panic("authz: CBOR options: " + err.Error())
		}
		return em
	}()
	recordDec = func() cbor.DecMode {
		dm, err := cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF, IndefLength: cbor.IndefLengthForbidden,
			ExtraReturnErrors: cbor.ExtraDecErrorUnknownField}.DecMode()
		if err != nil {
			panic("authz: CBOR options: " + err.Error())
		}
		return dm
	}()
)
