package tdx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Size limits for collateral, checked before anything is read or parsed.
// Real PCS responses are a few KiB (the processor-CA CRL can reach hundreds).
const (
	MaxCollateralItem = 1 << 20 // any one file / field
	MaxCollateralJSON = 6 << 20 // a whole JSON bundle (base64 and escaping included)
)

// ErrCollateralTooLarge is wrapped by LoadCollateral and ParseCollateralJSON
// when an item or the bundle exceeds its size limit.
var ErrCollateralTooLarge = errors.New("tdx: collateral too large")

// Collateral is the Intel PCS data that lets a verifier judge a platform's
// TCB: exactly the bytes PCS serves (signatures cover them) plus the issuer
// chains PCS returns in response headers (URL-unescaped PEM, signer first,
// then root). It is loaded from an operator-maintained cache directory; this
// package never fetches anything.
type Collateral struct {
	// TCBInfo is the body of GET /tdx/certification/v4/tcb?fmspc=...
	// ({"tcbInfo":{...},"signature":"<hex r||s>"}).
	TCBInfo []byte
	// TCBInfoIssuerChain is the Tcb-Info-Issuer-Chain header: Intel SGX TCB Signing, root.
	TCBInfoIssuerChain []byte
	// QEIdentity is the body of GET /tdx/certification/v4/qe/identity.
	QEIdentity []byte
	// QEIdentityIssuerChain is the Sgx-Enclave-Identity-Issuer-Chain header.
	QEIdentityIssuerChain []byte
	// PCKCRL is the PCK CA's CRL (DER or PEM), GET /sgx/certification/v4/pckcrl.
	PCKCRL []byte
	// PCKCRLIssuerChain is the Sgx-Pck-Crl-Issuer-Chain header (optional).
	PCKCRLIssuerChain []byte
	// RootCRL is the Intel SGX Root CA CRL (DER or PEM).
	RootCRL []byte
}

// collateralFiles names the files of a collateral cache directory.
var collateralFiles = []struct {
	name     string
	optional bool
	get      func(*Collateral) *[]byte
}{
	{"tcb_info.json", false, func(c *Collateral) *[]byte { return &c.TCBInfo }},
	{"tcb_info_issuer_chain.pem", false, func(c *Collateral) *[]byte { return &c.TCBInfoIssuerChain }},
	{"qe_identity.json", false, func(c *Collateral) *[]byte { return &c.QEIdentity }},
	{"qe_identity_issuer_chain.pem", false, func(c *Collateral) *[]byte { return &c.QEIdentityIssuerChain }},
	{"pck_crl.der", false, func(c *Collateral) *[]byte { return &c.PCKCRL }},
	{"pck_crl_issuer_chain.pem", true, func(c *Collateral) *[]byte { return &c.PCKCRLIssuerChain }},
	{"root_crl.der", false, func(c *Collateral) *[]byte { return &c.RootCRL }},
}

// LoadCollateral reads a collateral cache directory written by Save (or by an
// operator: tcb_info.json, tcb_info_issuer_chain.pem, qe_identity.json,
// qe_identity_issuer_chain.pem, pck_crl.der, [pck_crl_issuer_chain.pem],
// root_crl.der). Contents are checked when Verify uses them.
func LoadCollateral(dir string) (*Collateral, error) {
	c := &Collateral{}
	for _, f := range collateralFiles {
		b, err := readLimited(filepath.Join(dir, f.name), MaxCollateralItem)
		if err != nil {
			if f.optional && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("tdx: load collateral: %w", err)
		}
		*f.get(c) = b
	}
	return c, nil
}

// Save writes c into dir (created if needed) in the layout LoadCollateral reads.
func (c *Collateral) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tdx: save collateral: %w", err)
	}
	for _, f := range collateralFiles {
		b := *f.get(c)
		if len(b) == 0 && f.optional {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), b, 0o644); err != nil {
			return fmt.Errorf("tdx: save collateral: %w", err)
		}
	}
	return nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes: %w (limit %d)", path, st.Size(), ErrCollateralTooLarge, limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w (limit %d)", path, ErrCollateralTooLarge, limit)
	}
	return b, nil
}

// collateralJSON is the wire form of Collateral (media type
// application/vnd.intel.tdx.collateral+json). The PCS JSON bodies and PEM
// chains travel as JSON strings so that their bytes, which signatures cover,
// survive unchanged; CRLs are base64.
type collateralJSON struct {
	TCBInfo               string `json:"tcb_info"`
	TCBInfoIssuerChain    string `json:"tcb_info_issuer_chain"`
	QEIdentity            string `json:"qe_identity"`
	QEIdentityIssuerChain string `json:"qe_identity_issuer_chain"`
	PCKCRL                []byte `json:"pck_crl"`
	PCKCRLIssuerChain     string `json:"pck_crl_issuer_chain,omitempty"`
	RootCRL               []byte `json:"root_crl"`
}

// MarshalJSON encodes c as an application/vnd.intel.tdx.collateral+json document.
func (c *Collateral) MarshalJSON() ([]byte, error) {
	return json.Marshal(collateralJSON{
		TCBInfo: string(c.TCBInfo), TCBInfoIssuerChain: string(c.TCBInfoIssuerChain),
		QEIdentity: string(c.QEIdentity), QEIdentityIssuerChain: string(c.QEIdentityIssuerChain),
		PCKCRL: c.PCKCRL, PCKCRLIssuerChain: string(c.PCKCRLIssuerChain), RootCRL: c.RootCRL,
	})
}

// ParseCollateralJSON decodes an application/vnd.intel.tdx.collateral+json
// document (as produced by MarshalJSON), enforcing the size limits and that
// every mandatory item is present. Item contents are checked by Verify.
func ParseCollateralJSON(b []byte) (*Collateral, error) {
	if len(b) > MaxCollateralJSON {
		return nil, fmt.Errorf("tdx: collateral JSON: %d bytes: %w (limit %d)", len(b), ErrCollateralTooLarge, MaxCollateralJSON)
	}
	var w collateralJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("tdx: collateral JSON: %w", err)
	}
	c := &Collateral{
		TCBInfo: []byte(w.TCBInfo), TCBInfoIssuerChain: []byte(w.TCBInfoIssuerChain),
		QEIdentity: []byte(w.QEIdentity), QEIdentityIssuerChain: []byte(w.QEIdentityIssuerChain),
		PCKCRL: w.PCKCRL, PCKCRLIssuerChain: []byte(w.PCKCRLIssuerChain), RootCRL: w.RootCRL,
	}
	for _, f := range collateralFiles {
		n := len(*f.get(c))
		if n > MaxCollateralItem {
			return nil, fmt.Errorf("tdx: collateral JSON: %s: %d bytes: %w", f.name, n, ErrCollateralTooLarge)
		}
		if n == 0 && !f.optional {
			return nil, fmt.Errorf("tdx: collateral JSON: %s is missing: %w", f.name, ErrCollateralMissing)
		}
	}
	return c, nil
}

// ErrCollateralMissing is wrapped when a mandatory collateral item is absent.
var ErrCollateralMissing = errors.New("tdx: collateral item missing")
