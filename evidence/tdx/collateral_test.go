package tdx

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var collateralNow = time.Date(2023, 7, 1, 1, 0, 0, 0, time.UTC)

func realCollateral(t testing.TB) *Collateral {
	t.Helper()
	c, err := LoadCollateral("testdata/collateral-2023")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRealCollateral checks our collateral code against real Intel-signed
// PCS data: every signature, CRL and freshness check passes at 2023-07-01 and
// the TCB evaluation then finds no level for the sample (as go-tdx-guest's own
// negative test expects). Tampering with any signed byte is tdx.collateral.
func TestRealCollateral(t *testing.T) {
	q := sampleQuote(t)
	opts := VerifyOptions{Now: collateralNow, Roots: ProductionRoots(), Collateral: realCollateral(t)}
	_, err := Verify(q, unbound(opts))
	wantCode(t, err, "tdx.tcb")
	if !strings.Contains(err.Error(), "no TCB level") {
		t.Fatalf("want no-matching-level error, got %v", err)
	}

	flip := func(b []byte, sub string) []byte {
		i := bytes.Index(b, []byte(sub))
		if i < 0 {
			t.Fatalf("%q not found", sub)
		}
		out := append([]byte(nil), b...)
		out[i+len(sub)-1] ^= 0x01 // last char is a digit: '1'<->'0', '2'<->'3'
		return out
	}
	cases := []struct {
		name   string
		mod    func(c *Collateral)
		now    time.Time
		detail string
	}{
		{"tcb info body", func(c *Collateral) { c.TCBInfo = flip(c.TCBInfo, `"tcbEvaluationDataNumber":15`) }, collateralNow, "tcb_info: signature does not verify"},
		{"qe identity body", func(c *Collateral) { c.QEIdentity = flip(c.QEIdentity, `"isvprodid":2`) }, collateralNow, "qe_identity: signature does not verify"},
		{"tcb info stale", nil, time.Date(2023, 7, 19, 0, 0, 0, 0, time.UTC), "stale"},
		{"tcb signer chain missing root", func(c *Collateral) {
			c.TCBInfoIssuerChain = c.TCBInfoIssuerChain[:bytes.Index(c.TCBInfoIssuerChain, []byte("-----END"))+len("-----END CERTIFICATE-----\n")]
		}, collateralNow, "tcb_info issuer chain"},
		{"pck crl garbage", func(c *Collateral) { c.PCKCRL = []byte("not a crl") }, collateralNow, "pck_crl"},
		{"root crl is pck crl", func(c *Collateral) { c.RootCRL = c.PCKCRL }, collateralNow, "root_crl: signature"},
		{"missing qe identity", func(c *Collateral) { c.QEIdentity = nil }, collateralNow, "qe_identity.json is missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := realCollateral(t)
			if tc.mod != nil {
				tc.mod(c)
			}
			_, err := Verify(q, VerifyOptions{SkipReportData: true, Now: tc.now, Roots: ProductionRoots(), Collateral: c})
			wantCode(t, err, "tdx.collateral")
			if !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("error %q does not say %q", err, tc.detail)
			}
		})
	}
}

func TestCollateralSaveLoadJSON(t *testing.T) {
	c := realCollateral(t)
	dir := filepath.Join(t.TempDir(), "c")
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	c2, err := LoadCollateral(dir)
	if err != nil {
		t.Fatal(err)
	}
	j, err := c2.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	c3, err := ParseCollateralJSON(j)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range collateralFiles {
		if !bytes.Equal(*f.get(c), *f.get(c3)) {
			t.Fatalf("%s changed in the Save/Load/JSON round trip", f.name)
		}
	}
	// Same verdict from the round-tripped collateral.
	_, err = Verify(sampleQuote(t), VerifyOptions{SkipReportData: true, Now: collateralNow, Roots: ProductionRoots(), Collateral: c3})
	wantCode(t, err, "tdx.tcb")
}

func TestCollateralLimits(t *testing.T) {
	dir := t.TempDir()
	if err := realCollateral(t).Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root_crl.der"), make([]byte, MaxCollateralItem+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCollateral(dir); !errors.Is(err, ErrCollateralTooLarge) {
		t.Fatalf("oversized file: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "qe_identity.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCollateral(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}

	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"too large", make([]byte, MaxCollateralJSON+1), ErrCollateralTooLarge},
		{"missing items", []byte(`{"tcb_info":"{}"}`), ErrCollateralMissing},
		{"item too large", []byte(`{"tcb_info":"` + strings.Repeat("a", MaxCollateralItem+1) + `"}`), ErrCollateralTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseCollateralJSON(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := ParseCollateralJSON([]byte(`{"tcb_info": 5}`)); err == nil || !strings.Contains(err.Error(), "collateral JSON") {
		t.Fatalf("wrong type: %v", err)
	}
}
