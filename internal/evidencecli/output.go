package evidencecli

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
)

// appraisalJSON is the printed form of an appraisal: byte strings as
// lowercase hex, as operators copy them into policy allow-lists.
type appraisalJSON struct {
	Format         string         `json:"format"`
	Platform       string         `json:"platform"`
	Status         string         `json:"status"`
	TrustVector    map[string]int `json:"trust_vector"`
	PolicyID       string         `json:"policy_id"`
	PolicyDigest   string         `json:"policy_digest"`
	TrustAnchor    string         `json:"trust_anchor"`
	Simulated      bool           `json:"simulated"`
	EvidenceDigest string         `json:"evidence_digest"`
	// NotEvaluated lists the checks that could not be made (e.g. TDX
	// without collateral: "tcb_status", "revocation").
	NotEvaluated []string `json:"not_evaluated,omitempty"`
	SNP          *snpJSON `json:"snp,omitempty"`
	TDX          *tdxJSON `json:"tdx,omitempty"`
}

type snpJSON struct {
	Version      uint32  `json:"version"`
	Product      string  `json:"product"`
	SignerKind   string  `json:"signer"`
	Measurement  string  `json:"measurement"`
	ReportData   string  `json:"report_data"`
	HostData     string  `json:"host_data"`
	ChipID       string  `json:"chip_id"`
	ReportedTCB  snp.TCB `json:"reported_tcb"`
	CommittedTCB string  `json:"committed_tcb"`
	CurrentTCB   string  `json:"current_tcb"`
	GuestPolicy  string  `json:"guest_policy"`
	VMPL         uint32  `json:"vmpl"`
	Debug        bool    `json:"debug"`
	VCEKDigest   string  `json:"vcek_digest"`
	// RevocationChecked: the ASK was checked against AMD's CRL.
	RevocationChecked bool `json:"revocation_checked"`
}

type tdxJSON struct {
	QuoteVersion  uint16    `json:"quote_version"`
	BodyType      uint16    `json:"body_type"`
	MRTD          string    `json:"mrtd"`
	RTMRs         [4]string `json:"rtmrs"`
	MRSeam        string    `json:"mr_seam"`
	MRConfigID    string    `json:"mr_config_id"`
	MROwner       string    `json:"mr_owner"`
	MROwnerConfig string    `json:"mr_owner_config"`
	TDAttributes  string    `json:"td_attributes"`
	XFAM          string    `json:"xfam"`
	Debug         bool      `json:"debug"`
	TEETCBSVN     string    `json:"tee_tcb_svn"`
	TEETCBSVN2    string    `json:"tee_tcb_svn2,omitempty"`
	MRServiceTD   string    `json:"mr_service_td,omitempty"`
	ReportData    string    `json:"report_data"`
	QESVN         uint16    `json:"qe_svn"`
	PCESVN        uint16    `json:"pce_svn"`
	FMSPC         string    `json:"fmspc"`
	TCBStatus     string    `json:"tcb_status,omitempty"`
	PCKDigest     string    `json:"pck_digest"`
}

var hx = hex.EncodeToString

func toJSON(format string, a *evidence.Appraisal) *appraisalJSON {
	out := &appraisalJSON{
		Format: format, Platform: string(a.Platform), Status: a.Status, TrustVector: a.TrustVector,
		PolicyID: a.PolicyID, PolicyDigest: hx(a.PolicyDigest), TrustAnchor: a.TrustAnchor,
		Simulated: a.Simulated, EvidenceDigest: hx(a.EvidenceDigest), NotEvaluated: a.NotEvaluated,
	}
	switch r := a.Detail.(type) {
	case *snp.Result:
		out.SNP = &snpJSON{
			Version: r.Version, Product: r.Product, SignerKind: r.SignerKind, Measurement: hx(r.Measurement),
			ReportData: hx(r.ReportData[:]), HostData: hx(r.HostData), ChipID: hx(r.ChipID),
			ReportedTCB:  snp.DecomposeTCB(r.Product, r.ReportedTCB),
			CommittedTCB: fmt.Sprintf("0x%016x", r.CommittedTCB), CurrentTCB: fmt.Sprintf("0x%016x", r.CurrentTCB),
			GuestPolicy: fmt.Sprintf("0x%x", r.GuestPolicy), VMPL: r.VMPL, Debug: r.Debug, VCEKDigest: hx(r.VCEKDigest),
			RevocationChecked: r.RevocationChecked,
		}
	case *tdx.Result:
		out.TDX = tdxOut(r)
	}
	return out
}

func tdxOut(r *tdx.Result) *tdxJSON {
	o := &tdxJSON{
		QuoteVersion: r.QuoteVersion, BodyType: r.BodyType, TEETCBSVN2: hx(r.TEETCBSVN2), MRServiceTD: hx(r.MRServiceTD),
		MRTD: hx(r.MRTD), MRSeam: hx(r.MRSeam), MRConfigID: hx(r.MRConfigID), MROwner: hx(r.MROwner),
		MROwnerConfig: hx(r.MROwnerConfig), TDAttributes: hx(r.TDAttributes), XFAM: hx(r.XFAM), Debug: r.Debug,
		TEETCBSVN: hx(r.TEETCBSVN), ReportData: hx(r.ReportData[:]), QESVN: r.QESVN, PCESVN: r.PCESVN,
		FMSPC: r.FMSPC, TCBStatus: r.TCBStatus, PCKDigest: hx(r.PCKDigest),
	}
	for i, m := range r.RTMRs {
		o.RTMRs[i] = hx(m)
	}
	return o
}

func writeJSON(w io.Writer, format string, a *evidence.Appraisal) error {
	b, err := json.MarshalIndent(toJSON(format, a), "", "  ")
	if err != nil {
		return fmt.Errorf("evidence verify: encode appraisal: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
