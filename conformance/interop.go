package conformance

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/cocos"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/tlsbind"
)

// The interop kinds (README.md, "Kinds"): the binding check on a claimed
// REPORTDATA, a whole attestation with simulated evidence, the cmw_data
// shapes, and cocos's JSON payload.
const (
	KindReportData   = "report-data"
	KindAttestation  = "attestation"
	KindCMW          = "cmw"
	KindCocosPayload = "cocos-payload"
)

func init() {
	Register(KindReportData, tlsbind.Namespace, runReportData)
	Register(KindAttestation, tlsbind.Namespace, runAttestation)
	Register(KindCMW, string(check.CMW), runCMW)
	Register(KindCocosPayload, string(check.Cocos), runCocosPayload)
}

// accepted resolves a vector's list of profile ids; empty = the default.
func accepted(ids []string) ([]tlsbind.Profile, error) {
	var out []tlsbind.Profile
	for _, id := range ids {
		p, ok := tlsbind.LookupProfile(id)
		if !ok {
			return nil, fmt.Errorf("profile %q unknown", id)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		out = []tlsbind.Profile{tlsbind.DefaultProfile()}
	}
	return out, nil
}

// --- report-data -----------------------------------------------------------

type reportDataInputs struct {
	common
	Context    Hex      `json:"context"`
	SPKI       Hex      `json:"spki,omitempty"`
	Accept     []string `json:"accept,omitempty"`
	ReportData Hex      `json:"report_data"`
}

func runReportData(in, exp json.RawMessage) error {
	var i reportDataInputs
	if err := decodeStrict(in, &i); err != nil {
		return err
	}
	if len(i.ReportData) != 64 {
		return fmt.Errorf("report_data is %d bytes, want 64", len(i.ReportData))
	}
	ch, err := i.channel(expat.Client)
	if err != nil {
		return err
	}
	acc, err := accepted(i.Accept)
	if err != nil {
		return err
	}
	p, err := tlsbind.CheckReportData(ch, i.Context, i.SPKI, [64]byte(i.ReportData), acc)
	var e struct {
		Profile string `json:"profile"`
	}
	if done, res := settle(exp, problemCode(err), err, &e); done {
		return res
	}
	if p.ID != e.Profile {
		return fmt.Errorf("%w: profile %s, want %s", errMismatch, p.ID, e.Profile)
	}
	return nil
}

// --- attestation -----------------------------------------------------------

type snpRootsInput struct {
	Product string `json:"product"`
	ARK     Hex    `json:"ark"`
	ASK     Hex    `json:"ask"`
}

type attestationInputs struct {
	common
	Request       Hex            `json:"request"`
	Authenticator Hex            `json:"authenticator"`
	Accept        []string       `json:"accept,omitempty"`
	SNPRoots      *snpRootsInput `json:"snp_roots,omitempty"`
	TDXRoot       Hex            `json:"tdx_root,omitempty"`
	Now           int64          `json:"now"`
}

type attestationExpected struct {
	Profile    string `json:"profile"`
	Model      string `json:"model"`
	Platform   string `json:"platform"`
	Binding    Hex    `json:"binding"`
	ReportData Hex    `json:"report_data"`
}

// runAttestation validates a whole authenticator as a relying party that
// trusts only the vector's (simulated) roots and seatrx's default policy,
// at the vector's time.
func runAttestation(in, exp json.RawMessage) error {
	var i attestationInputs
	if err := decodeStrict(in, &i); err != nil {
		return err
	}
	res, err := i.check()
	var e attestationExpected
	if done, r := settle(exp, problemCode(err), err, &e); done {
		return r
	}
	if got := attestationOutputs(res); got.Profile != e.Profile || got.Model != e.Model || got.Platform != e.Platform ||
		!bytes.Equal(got.Binding, e.Binding) || !bytes.Equal(got.ReportData, e.ReportData) {
		return fmt.Errorf("%w: got %+v\nwant %+v", errMismatch, got, e)
	}
	return nil
}

func attestationOutputs(res *tlsbind.Result) attestationExpected {
	out := attestationExpected{Profile: res.Binder.Profile.ID, Model: res.Model, Binding: res.Binder.Binding, ReportData: res.Binder.ReportData[:]}
	if res.Appraisal != nil {
		out.Platform = string(res.Appraisal.Platform)
	}
	return out
}

// check runs the relying party's whole check on the inputs.
func (i *attestationInputs) check() (*tlsbind.Result, error) {
	role, ch, err := i.roleAndChannel()
	if err != nil {
		return nil, err
	}
	acc, err := accepted(i.Accept)
	if err != nil {
		return nil, err
	}
	cfg := evidence.Config{Policy: policy.Default().AppraisalPolicy()}
	if r := i.SNPRoots; r != nil {
		ark, err1 := x509.ParseCertificate(r.ARK)
		ask, err2 := x509.ParseCertificate(r.ASK)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("snp_roots: %v %v", err1, err2)
		}
		roots, err := snp.NewSimulatedRoots(r.Product, ark, ask, nil)
		if err != nil {
			return nil, fmt.Errorf("snp_roots: %w", err)
		}
		cfg.SNPRoots = []*snp.Roots{roots}
	}
	if i.TDXRoot != nil {
		root, err := x509.ParseCertificate(i.TDXRoot)
		if err != nil {
			return nil, fmt.Errorf("tdx_root: %w", err)
		}
		cfg.TDXRoots = []*tdx.Roots{tdx.NewRoots([]*x509.Certificate{root}, true)}
	}
	v, err := evidence.NewVerifier(cfg)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	iss, err := ear.NewIssuer(key, "seatrx", "conformance")
	if err != nil {
		return nil, err
	}
	req, err := expat.ParseRequest(i.Request, role.Peer(), acc[0].CMWType)
	if err != nil {
		return nil, fmt.Errorf("request input: %w", err)
	}
	now := time.Unix(i.Now, 0)
	c := &tlsbind.Checker{Verifier: v, Issuer: iss, Now: func() time.Time { return now }}
	return c.Check(context.Background(), ch, role, req, i.Authenticator, acc)
}

// --- cmw ---------------------------------------------------------------------

type cmwExpected struct {
	Kind               string `json:"kind"`
	Platform           string `json:"platform,omitempty"`
	EvidenceSHA256     Hex    `json:"evidence_sha256,omitempty"`
	EndorsementsSHA256 Hex    `json:"endorsements_sha256,omitempty"`
	EARSHA256          Hex    `json:"ear_sha256,omitempty"`
}

func sha(b []byte) Hex {
	if len(b) == 0 {
		return nil
	}
	d := sha256.Sum256(b)
	return d[:]
}

// runCMW reads cmw_data as the profile's container says and reports what it
// carries: the kind, the platform, and SHA-256 digests of the evidence the
// verifier would check (for cocos: the report rebuilt from raw_report), the
// endorsements and the EAR.
func runCMW(in, exp json.RawMessage) error {
	var i struct {
		Profile string `json:"profile,omitempty"`
		CMWData Hex    `json:"cmw_data"`
	}
	if err := decodeStrict(in, &i); err != nil {
		return err
	}
	acc, err := accepted(optional(i.Profile))
	if err != nil {
		return err
	}
	car, err := acc[0].OpenCMWData(i.CMWData)
	var e cmwExpected
	if done, res := settle(exp, problemCode(err), err, &e); done {
		return res
	}
	d := car.Evidence
	got := cmwExpected{Kind: string(d.Kind), Platform: string(d.Platform), EvidenceSHA256: sha(d.Evidence), EndorsementsSHA256: sha(d.Endorsements), EARSHA256: sha(d.EAR)}
	if got.Kind != e.Kind || got.Platform != e.Platform || !bytes.Equal(got.EvidenceSHA256, e.EvidenceSHA256) ||
		!bytes.Equal(got.EndorsementsSHA256, e.EndorsementsSHA256) || !bytes.Equal(got.EARSHA256, e.EARSHA256) {
		return fmt.Errorf("%w: got %+v\nwant %+v", errMismatch, got, e)
	}
	return nil
}

func optional(id string) []string {
	if id == "" {
		return nil
	}
	return []string{id}
}

// --- cocos-payload -----------------------------------------------------------

type cocosPayloadExpected struct {
	Version       int64  `json:"version"`
	MediaType     string `json:"media_type,omitempty"`
	Evidence      Hex    `json:"evidence"`
	ExporterLabel string `json:"exporter_label,omitempty"`
	AIKPubHash    Hex    `json:"aik_pub_hash"`
	Binding       Hex    `json:"binding"`
}

// runCocosPayload parses a cocos JSON payload strictly and checks its
// exporter label against label (default cocos's "Attestation").
func runCocosPayload(in, exp json.RawMessage) error {
	var i struct {
		Payload Hex    `json:"payload"`
		Label   string `json:"label,omitempty"`
	}
	if err := decodeStrict(in, &i); err != nil {
		return err
	}
	if i.Label == "" {
		i.Label = cocos.ExporterLabel
	}
	p, err := cocos.ParsePayload(i.Payload)
	if err == nil {
		err = p.CheckLabel(i.Label)
	}
	var e cocosPayloadExpected
	if done, res := settle(exp, problemCode(err), err, &e); done {
		return res
	}
	got := cocosPayloadExpected{Version: p.Version, MediaType: p.MediaType, Evidence: p.Evidence, ExporterLabel: p.Binder.ExporterLabel, AIKPubHash: p.Binder.AIKPubHash, Binding: p.Binder.Binding}
	if got.Version != e.Version || got.MediaType != e.MediaType || got.ExporterLabel != e.ExporterLabel || !bytes.Equal(got.Evidence, e.Evidence) ||
		!bytes.Equal(got.AIKPubHash, e.AIKPubHash) || !bytes.Equal(got.Binding, e.Binding) {
		return fmt.Errorf("%w: got %+v\nwant %+v", errMismatch, got, e)
	}
	return nil
}
