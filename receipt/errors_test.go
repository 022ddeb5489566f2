package receipt

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// lowerErr stands for a lower layer's classified failure (an EAR check).
type lowerErr struct{ code string }

func (e lowerErr) Error() string       { return e.code + ": lower failure" }
func (e lowerErr) ProblemCode() string { return e.code }

func TestProblemCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
		code ErrorCode
	}{
		{"own-code", ferr("action_hash", CodeHashMismatch, "differs"), "receipt.hash_mismatch", CodeHashMismatch},
		{"wrapped-by-caller", fmt.Errorf("verify: %w", ferr("timestamp", CodeTooOld, "old")), "receipt.too_old", CodeTooOld},
		{"locates-lower", &FieldError{Field: "hae_attestation_token", Err: lowerErr{"ear.nonce"}}, "ear.nonce", ""},
		{"own-code-wins-over-lower", fwrap("hae_attestation_token", CodeAttestation, lowerErr{"ear.nonce"}), "receipt.attestation", CodeAttestation},
		{"untyped", errors.New("x"), "", ""},
		{"nil", nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ProblemCode(tc.err); got != tc.want {
				t.Errorf("ProblemCode = %q, want %q", got, tc.want)
			}
			if got := Code(tc.err); got != tc.code {
				t.Errorf("Code = %q, want %q", got, tc.code)
			}
		})
	}
	// A locating FieldError renders the lower error without an empty code.
	e := &FieldError{Field: "hae_attestation_token", Err: lowerErr{"ear.nonce"}}
	if got, want := e.Error(), "receipt: hae_attestation_token: ear.nonce: lower failure"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	// Sentinels match by code only, and never match a code-less FieldError.
	if !errors.Is(ferr("x", CodeReplayed, "again"), ErrReplayed) || errors.Is(e, &FieldError{}) {
		t.Error("errors.Is on sentinels")
	}
}

// TestClassifyLibraryErrors pins the mapping of fxamacker/cbor's error types
// to codes; it breaks if a library upgrade changes which type it returns.
func TestClassifyLibraryErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		code ErrorCode
	}{
		{"invalid-utf8", []byte{0x62, 0xff, 0xfe}, CodeInvalidUTF8},
		{"duplicate-key", []byte{0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02}, CodeDuplicateKey},
		{"indefinite", []byte{0x5f, 0x41, 0x00, 0xff}, CodeIndefiniteLength},
		{"tag", []byte{0xc1, 0x01}, CodeTagForbidden},
		{"trailing", []byte{0x01, 0x02}, CodeTrailingData},
		{"nesting", append(bytes.Repeat([]byte{0x81}, 40), 0x01), CodeTooLarge},
		{"truncated", []byte{0x62, 0x61}, CodeMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			if err := unmarshal("f", tc.data, &v); Code(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
	var n uint64
	if err := unmarshal("f", []byte{0x61, 0x61}, &n); Code(err) != CodeWrongType {
		t.Fatalf("text into uint: %v", err)
	}
}
