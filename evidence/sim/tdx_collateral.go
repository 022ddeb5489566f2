package sim

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/seatrx/seatrx/evidence/tdx"
)

// TDXCollateralConfig parameterises mock collateral.
type TDXCollateralConfig struct {
	Now time.Time // issue time (minus one hour); zero = time.Now()
	// Lifetime is issue-to-nextUpdate of TCB info, QE identity and CRLs; zero = 30 days.
	Lifetime time.Duration
	// RevokePCK lists the authority's PCK certificate in the PCK CRL.
	RevokePCK bool
}

// Collateral returns fresh mock collateral valid from now for 30 days.
func (a *TDXAuthority) Collateral(now time.Time) (*tdx.Collateral, error) {
	return a.CollateralWith(TDXCollateralConfig{Now: now})
}

// PCS JSON shapes (pcs.TcbInfo has no marshalling for its hex fields).
type tdxComp struct {
	Svn byte `json:"svn"`
}

type tdxTCB struct {
	SGX    []tdxComp `json:"sgxtcbcomponents,omitempty"`
	PCESVN *uint16   `json:"pcesvn,omitempty"`
	TDX    []tdxComp `json:"tdxtcbcomponents,omitempty"`
	ISVSVN *uint32   `json:"isvsvn,omitempty"`
}

type tdxLevel struct {
	TCB     tdxTCB `json:"tcb"`
	Date    string `json:"tcbDate"`
	Status  string `json:"tcbStatus"`
	Advisor []any  `json:"advisoryIDs,omitempty"`
}

type tdxModuleJSON struct {
	MrSigner       string `json:"mrsigner"`
	Attributes     string `json:"attributes"`
	AttributesMask string `json:"attributesMask"`
}

type tdxTCBInfoJSON struct {
	ID          string        `json:"id"`
	Version     int           `json:"version"`
	IssueDate   string        `json:"issueDate"`
	NextUpdate  string        `json:"nextUpdate"`
	FMSPC       string        `json:"fmspc"`
	PCEID       string        `json:"pceId"`
	TCBType     int           `json:"tcbType"`
	EvalNumber  int           `json:"tcbEvaluationDataNumber"`
	TDXModule   tdxModuleJSON `json:"tdxModule"`
	TCBLevels   []tdxLevel    `json:"tcbLevels"`
	ModuleIdent []any         `json:"tdxModuleIdentities"`
}

type tdxQEIdentityJSON struct {
	ID             string     `json:"id"`
	Version        int        `json:"version"`
	IssueDate      string     `json:"issueDate"`
	NextUpdate     string     `json:"nextUpdate"`
	EvalNumber     int        `json:"tcbEvaluationDataNumber"`
	MiscSelect     string     `json:"miscselect"`
	MiscSelectMask string     `json:"miscselectMask"`
	Attributes     string     `json:"attributes"`
	AttributesMask string     `json:"attributesMask"`
	MrSigner       string     `json:"mrsigner"`
	ISVProdID      int        `json:"isvprodid"`
	TCBLevels      []tdxLevel `json:"tcbLevels"`
}

func tdxComps(b []byte) []tdxComp {
	out := make([]tdxComp, len(b))
	for i, v := range b {
		out[i] = tdxComp{Svn: v}
	}
	return out
}

// tdxSignedJSON returns {"<field>":<inner>,"signature":"<hex r||s>"} signed
// over the exact inner bytes, as Intel PCS serves it.
func (a *TDXAuthority) tdxSignedJSON(field string, v any) ([]byte, error) {
	inner, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("sim: tdx %s: %w", field, err)
	}
	sig, err := tdxSign(a.tcbSignerKey, inner)
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf(`{"%s":%s,"signature":"%s"}`, field, inner, hex.EncodeToString(sig))), nil
}

// CollateralWith returns mock collateral signed by the authority: TCB info
// with an UpToDate level (PCK TCB, TDXUpToDateTEETCBSVN) followed by an
// OutOfDate one (TDXOutOfDateTEETCBSVN), QE identity, PCK CRL and root CRL.
func (a *TDXAuthority) CollateralWith(cfg TDXCollateralConfig) (*tdx.Collateral, error) {
	if cfg.Now.IsZero() {
		cfg.Now = time.Now()
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = 30 * 24 * time.Hour
	}
	issued, next := cfg.Now.Add(-time.Hour).UTC(), cfg.Now.Add(cfg.Lifetime).UTC()
	pcesvn := a.exts.TCB.PCESvn
	sgx := tdxComps(a.exts.TCB.CPUSvnComponents)
	level := func(tee [16]byte, status string) tdxLevel {
		return tdxLevel{TCB: tdxTCB{SGX: sgx, PCESVN: &pcesvn, TDX: tdxComps(tee[:])}, Date: issued.Format(time.RFC3339), Status: status}
	}
	tcbInfo, err := a.tdxSignedJSON("tcbInfo", tdxTCBInfoJSON{
		ID: "TDX", Version: 3, IssueDate: issued.Format(time.RFC3339), NextUpdate: next.Format(time.RFC3339),
		FMSPC: a.exts.FMSPC, PCEID: a.exts.PCEID, EvalNumber: 17,
		TDXModule:   tdxModuleJSON{MrSigner: hex.EncodeToString(make([]byte, 48)), Attributes: "0000000000000000", AttributesMask: "ffffffffffffffff"},
		TCBLevels:   []tdxLevel{level(TDXUpToDateTEETCBSVN, "UpToDate"), level(TDXOutOfDateTEETCBSVN, "OutOfDate")},
		ModuleIdent: []any{},
	})
	if err != nil {
		return nil, err
	}
	svnUp, svnOld := uint32(tdxQEISVSVN), uint32(0)
	qeID, err := a.tdxSignedJSON("enclaveIdentity", tdxQEIdentityJSON{
		ID: "TD_QE", Version: 2, IssueDate: issued.Format(time.RFC3339), NextUpdate: next.Format(time.RFC3339), EvalNumber: 17,
		MiscSelect: "00000000", MiscSelectMask: "ffffffff",
		Attributes: hex.EncodeToString(tdxQEAttrs), AttributesMask: "fbffffffffffffff0000000000000000",
		MrSigner: hex.EncodeToString(tdxQEMrSigner[:]), ISVProdID: tdxQEISVProdID,
		TCBLevels: []tdxLevel{
			{TCB: tdxTCB{ISVSVN: &svnUp}, Date: issued.Format(time.RFC3339), Status: "UpToDate"},
			{TCB: tdxTCB{ISVSVN: &svnOld}, Date: issued.Format(time.RFC3339), Status: "OutOfDate"},
		},
	})
	if err != nil {
		return nil, err
	}
	var revoked []x509.RevocationListEntry
	if cfg.RevokePCK {
		revoked = append(revoked, x509.RevocationListEntry{SerialNumber: a.pck.SerialNumber, RevocationTime: issued})
	}
	pckCRL, err := tdxCRL(a.pckCA, a.pckCAKey, revoked, issued, next)
	if err != nil {
		return nil, err
	}
	rootCRL, err := tdxCRL(a.root, a.rootKey, nil, issued, next)
	if err != nil {
		return nil, err
	}
	return &tdx.Collateral{
		TCBInfo:               tcbInfo,
		TCBInfoIssuerChain:    tdxPEM(a.tcbSigner, a.root),
		QEIdentity:            qeID,
		QEIdentityIssuerChain: tdxPEM(a.tcbSigner, a.root),
		PCKCRL:                pckCRL,
		PCKCRLIssuerChain:     tdxPEM(a.pckCA, a.root),
		RootCRL:               rootCRL,
	}, nil
}

func tdxCRL(issuer *x509.Certificate, key *ecdsa.PrivateKey, revoked []x509.RevocationListEntry, this, next time.Time) ([]byte, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, fmt.Errorf("sim: tdx CRL number: %w", err)
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: n, ThisUpdate: this, NextUpdate: next, RevokedCertificateEntries: revoked,
		SignatureAlgorithm: x509.ECDSAWithSHA256,
	}, issuer, key)
	if err != nil {
		return nil, fmt.Errorf("sim: tdx CRL by %q: %w", issuer.Subject.CommonName, err)
	}
	return der, nil
}
