package check

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestCodeAndUnwrap(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code string
		is   error
	}{
		{"plain", Errorf("snp", ReportData, "got %x", []byte{1}), "snp.report_data", nil},
		{"wrapped", fmt.Errorf("verify: %w", Wrap("tdx", Signature, io.ErrUnexpectedEOF, "quote")), "tdx.signature", io.ErrUnexpectedEOF},
		{"foreign", errors.New("x"), "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Code(tc.err); got != tc.code {
				t.Fatalf("Code = %q, want %q", got, tc.code)
			}
			if tc.is != nil && !errors.Is(tc.err, tc.is) {
				t.Fatalf("errors.Is(%v, %v) = false", tc.err, tc.is)
			}
		})
	}
	if got := Errorf("snp", Debug, "debug bit set").Error(); got != "snp.debug: debug bit set" {
		t.Fatalf("Error() = %q", got)
	}
}
