package check

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestCodeAndUnwrap(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     string
		platform Platform
		check    Check
		is       error
	}{
		{"plain", Errorf(SNP, ReportData, "got %x", []byte{1}), "snp.report_data", SNP, ReportData, nil},
		{"wrapped", fmt.Errorf("verify: %w", Wrap(TDX, Signature, io.ErrUnexpectedEOF, "quote")), "tdx.signature", TDX, Signature, io.ErrUnexpectedEOF},
		{"untyped constants", Errorf("ear", "key", "x"), "ear.key", EAR, "key", nil},
		{"foreign", errors.New("x"), "", "", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Code(tc.err); got != tc.code {
				t.Fatalf("Code = %q, want %q", got, tc.code)
			}
			var ce *Error
			if ok := errors.As(tc.err, &ce); ok != (tc.code != "") {
				t.Fatalf("errors.As = %v", ok)
			}
			if ce != nil && (ce.Platform != tc.platform || ce.Check != tc.check || ce.ProblemCode() != tc.code) {
				t.Fatalf("fields %q/%q, ProblemCode %q; want %q/%q, %q", ce.Platform, ce.Check, ce.ProblemCode(), tc.platform, tc.check, tc.code)
			}
			if tc.is != nil && !errors.Is(tc.err, tc.is) {
				t.Fatalf("errors.Is(%v, %v) = false", tc.err, tc.is)
			}
		})
	}
	if got := Errorf(SNP, Debug, "debug bit set").Error(); got != "snp.debug: debug bit set" {
		t.Fatalf("Error() = %q", got)
	}
	if got := Wrap(CMW, Decode, io.EOF, "record").Error(); got != "cmw.decode: record: EOF" {
		t.Fatalf("Error() = %q", got)
	}
	if got := (&Error{Platform: Cocos, Check: Decode, Field: "binder.binding", Detail: "not base64"}).Error(); got != "cocos.decode: binder.binding: not base64" {
		t.Fatalf("Error() = %q", got)
	}
}

// The server finds wire codes through this interface, declared where it is consumed.
var _ interface{ ProblemCode() string } = (*Error)(nil)
