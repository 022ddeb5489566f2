package tdx

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-configfs-tsm/configfs/faketsm"
)

func TestQuoteViaTSMProvider(t *testing.T) {
	var rd [64]byte
	copy(rd[:], "nonce")

	// The fake subsystem reports provider "fake": an SNP (or any non-TDX)
	// provider must not be passed off as a TDX quote.
	_, err := quoteViaTSM(faketsm.ReportV7(0), rd)
	if !errors.Is(err, ErrWrongProvider) {
		t.Fatalf("provider fake: %v", err)
	}

	sub := faketsm.ReportV7(0)
	read := sub.ReadAttr
	sub.ReadAttr = func(e *faketsm.ReportEntry, attr string) ([]byte, error) {
		if attr == "provider" {
			return []byte("tdx_guest\n"), nil
		}
		return read(e, attr)
	}
	q, err := quoteViaTSM(sub, rd)
	if err != nil {
		t.Fatalf("provider tdx_guest: %v", err)
	}
	// faketsm renders "privlevel: ...\ninblob: <hex>"; the hex must be our report data.
	if !bytes.Contains(q, []byte("6e6f6e6365")) {
		t.Fatalf("outblob %q does not carry the report data", q)
	}
}
