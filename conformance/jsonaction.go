package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/seatrx/seatrx/receipt"
)

// KindJSONAction is the vector kind of receipt/PROFILE.md §3.1: a client's
// JSON mapped to the action's "requested" member, byte-exact, and the
// action_hash of the action around it.
const KindJSONAction = "json-action"

func init() {
	Register(KindJSONAction, receipt.Namespace, runJSONAction)
}

// jsonActionInputs: the document as text (json) or, for bytes that are not
// UTF-8, as hex (json_hex); op "requested" (the default: the document is
// the requested value) or "request" (the document is a whole JSON receipt
// request, {"requested": ..., "audience": ...}); and the members of the
// action object around requested (SHA-256 digests as their 32 bytes).
type jsonActionInputs struct {
	Op                 string  `json:"op,omitempty"`
	JSON               *string `json:"json,omitempty"`
	JSONHex            Hex     `json:"json_hex,omitempty"`
	PeerKey            Hex     `json:"peer_key"`
	Binder             Hex     `json:"binder"`
	CertRequestContext Hex     `json:"cert_request_context"`
	ServerCert         Hex     `json:"server_cert"`
	EvidenceDigest     Hex     `json:"evidence_digest"`
}

// jsonActionExpected: the requested value's deterministic CBOR, the whole
// action preimage and its SHA-256 (action_hash value), and for op
// "request" the audience; or the error code and the path it names.
type jsonActionExpected struct {
	Error      string  `json:"error,omitempty"`
	Path       string  `json:"path,omitempty"`
	Requested  Hex     `json:"requested,omitempty"`
	Audience   *string `json:"audience,omitempty"`
	Action     Hex     `json:"action,omitempty"`
	ActionHash Hex     `json:"action_hash,omitempty"`
}

func runJSONAction(inputs, expected json.RawMessage) error {
	var in jsonActionInputs
	var exp jsonActionExpected
	if err := decodeStrict(inputs, &in); err != nil {
		return fmt.Errorf("inputs: %w", err)
	}
	if err := decodeStrict(expected, &exp); err != nil {
		return fmt.Errorf("expected: %w", err)
	}
	out, err := jsonAction(&in)
	if exp.Error != "" {
		if err := checkError(exp.Error, problemCode(err), err); err != nil {
			return err
		}
		var fe *receipt.FieldError
		if errors.As(err, &fe) && fe.Field != exp.Path {
			return fmt.Errorf("error names %q, expected %q", fe.Field, exp.Path)
		}
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case !bytes.Equal(out.Requested, exp.Requested):
		return fmt.Errorf("%w: requested %x, expected %x", errMismatch, out.Requested, exp.Requested)
	case !bytes.Equal(out.Action, exp.Action):
		return fmt.Errorf("%w: action %x", errMismatch, out.Action)
	case !bytes.Equal(out.ActionHash, exp.ActionHash):
		return fmt.Errorf("%w: action_hash %x", errMismatch, out.ActionHash)
	case (exp.Audience == nil) != (in.Op != "request") || exp.Audience != nil && *exp.Audience != *out.Audience:
		return fmt.Errorf("%w: audience", errMismatch)
	}
	return nil
}

// jsonAction runs one json-action case and returns what it produced; the
// generator's tests use it to compute the expected outputs.
func jsonAction(in *jsonActionInputs) (*jsonActionExpected, error) {
	doc := []byte(in.JSONHex)
	if in.JSON != nil {
		if in.JSONHex != nil {
			return nil, errors.New("inputs: json and json_hex are exclusive")
		}
		doc = []byte(*in.JSON)
	}
	out := &jsonActionExpected{}
	var err error
	switch in.Op {
	case "", "requested":
		out.Requested, err = receipt.RequestedFromJSON(doc)
	case "request":
		var aud string
		out.Requested, aud, err = receipt.ParseRequestJSON(doc)
		out.Audience = &aud
	default:
		return nil, fmt.Errorf("inputs: unknown op %q", in.Op)
	}
	if err != nil {
		return nil, err
	}
	a := receipt.Action{
		Type: receipt.ActionTypeAttestedSession, PeerKey: sha256Hash(in.PeerKey), Binder: in.Binder,
		CertRequestContext: in.CertRequestContext, ServerCert: sha256Hash(in.ServerCert),
		EvidenceDigest: sha256Hash(in.EvidenceDigest), Requested: []byte(out.Requested),
	}
	if out.Action, err = a.Marshal(); err != nil {
		return nil, err
	}
	out.ActionHash = receipt.SHA256(out.Action).Value
	return out, nil
}

func sha256Hash(v []byte) receipt.Hash { return receipt.Hash{Alg: receipt.HashSHA256, Value: v} }
