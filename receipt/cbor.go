package receipt

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// Size limits, checked before any decoding or allocation.
const (
	// MaxReceiptSize bounds a tagged COSE_Sign1 receipt.
	MaxReceiptSize = 64 << 10
	// MaxApprovalSize bounds one approval COSE_Sign1.
	MaxApprovalSize = 4 << 10
	// MaxActionSize bounds the action-object preimage.
	MaxActionSize = 16 << 10
	// MaxPolicySize bounds the policy preimage.
	MaxPolicySize = 128 << 10
	// MaxBundleSize bounds a whole receipt bundle.
	MaxBundleSize = MaxReceiptSize + MaxActionSize + MaxPolicySize + 8<<10
	// MaxApprovers bounds approver_identities / approver_signatures.
	MaxApprovers = 16
	// MaxNotEvaluated bounds context_snapshot.not_evaluated: 8 names of
	// 1..64 bytes each.
	MaxNotEvaluated = 8
	// MaxEARSize bounds the EAR carried in hae_attestation_token.
	MaxEARSize = 32 << 10
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	eo := cbor.CoreDetEncOptions()
	eo.NilContainers = cbor.NilContainerAsEmpty
	encMode, err = eo.EncMode()
	if err != nil {
		panic(fmt.Sprintf("receipt: cbor enc mode: %v", err))
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		UTF8:              cbor.UTF8RejectInvalid,
		MaxNestedLevels:   16,
		MaxArrayElements:  256,
		MaxMapPairs:       64,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		DefaultMapType:    reflect.TypeOf(map[any]any(nil)),
		IntDec:            cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("receipt: cbor dec mode: %v", err))
	}
}

// classify turns a CBOR decoding error into a *FieldError with a stable code.
func classify(field string, err error) *FieldError {
	var (
		dup   *cbor.DupMapKeyError
		indef *cbor.IndefiniteLengthError
		tags  *cbor.TagsMdError
		extra *cbor.ExtraneousDataError
		sem   *cbor.SemanticError
		typ   *cbor.UnmarshalTypeError
		nest  *cbor.MaxNestedLevelError
		arr   *cbor.MaxArrayElementsError
		mp    *cbor.MaxMapPairsError
	)
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		return fe
	case errors.As(err, &dup):
		return fwrap(field, CodeDuplicateKey, err)
	case errors.As(err, &indef):
		return fwrap(field, CodeIndefiniteLength, err)
	case errors.As(err, &tags):
		return fwrap(field, CodeTagForbidden, err)
	case errors.As(err, &extra):
		return fwrap(field, CodeTrailingData, err)
	case errors.As(err, &nest), errors.As(err, &arr), errors.As(err, &mp):
		return fwrap(field, CodeTooLarge, err)
	case errors.As(err, &sem):
		// The decoder's only semantic error is invalid UTF-8 in a text
		// string (fxamacker/cbor v2.10; TestClassifyLibraryErrors pins it).
		return fwrap(field, CodeInvalidUTF8, err)
	case errors.As(err, &typ):
		return fwrap(field, CodeWrongType, err)
	default:
		return fwrap(field, CodeMalformed, err)
	}
}

// unmarshal strictly decodes data into v, naming field in any error.
func unmarshal(field string, data []byte, v any) error {
	if len(data) == 0 {
		return ferr(field, CodeMalformed, "empty CBOR item")
	}
	if err := decMode.Unmarshal(data, v); err != nil {
		return classify(field, err)
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// marshal encodes v as Core Deterministic CBOR.
func marshal(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("receipt: encode: %w", err)
	}
	return b, nil
}

// checkDeterministic re-encodes v and compares it with the input bytes, which
// rejects unsorted keys, non-shortest integers and other non-canonical forms
// that a lenient decoder would accept.
func checkDeterministic(field string, input []byte, v any) error {
	again, err := marshal(v)
	if err != nil {
		return fwrap(field, CodeMalformed, err)
	}
	if !bytes.Equal(again, input) {
		return ferr(field, CodeNonDeterministic, "input is not Core Deterministic CBOR (re-encoding differs)")
	}
	return nil
}

// checkDeterministicAny checks that data is one well-formed, strictly
// decodable, Core Deterministic CBOR item of any shape (used for opaque
// preimages such as the policy document).
func checkDeterministicAny(field string, data []byte, limit int) error {
	if len(data) > limit {
		return ferr(field, CodeTooLarge, "%d bytes exceeds limit %d", len(data), limit)
	}
	var v any
	if err := unmarshal(field, data, &v); err != nil {
		return err
	}
	return checkDeterministic(field, data, v)
}
