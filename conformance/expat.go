package conformance

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/tlsbind"
)

func init() {
	Register("request", expat.Namespace, runRequest)
	Register("authenticator", expat.Namespace, runAuthenticator)
	Register("empty-authenticator", expat.Namespace, runEmptyAuthenticator)
	Register("validate", expat.Namespace, runValidate)
	Register("binder", tlsbind.Namespace, runBinder)
}

// common are the inputs shared by every kind that needs a connection.
type common struct {
	CipherSuite          string `json:"cipher_suite,omitempty"`
	ExporterMasterSecret Hex    `json:"exporter_master_secret,omitempty"`
	HandshakeContext     Hex    `json:"handshake_context,omitempty"`
	FinishedKey          Hex    `json:"finished_key,omitempty"`
	Role                 string `json:"role,omitempty"` // the sender of the message under test
	CMWExtensionType     uint16 `json:"cmw_extension_type,omitempty"`
	// Transport is "tls" (the default) or "dtls": a DTLS 1.3 connection,
	// whose exporter is RFC 8446's with the HKDF label prefix "dtls13"
	// instead of "tls13 " (RFC 9147 §5.9, docs/PROTOCOL.md §13.2).
	Transport string `json:"transport,omitempty"`
}

// JSONExtension is an extension in vector files.
type JSONExtension struct {
	Type uint16 `json:"type"`
	Data Hex    `json:"data"`
}

func toExtensions(in []JSONExtension) []expat.Extension {
	out := make([]expat.Extension, len(in))
	for i, e := range in {
		out[i] = expat.Extension{Type: e.Type, Data: e.Data}
	}
	return out
}

var suites = map[string]uint16{
	"TLS_AES_128_GCM_SHA256":       tls.TLS_AES_128_GCM_SHA256,
	"TLS_AES_256_GCM_SHA384":       tls.TLS_AES_256_GCM_SHA384,
	"TLS_CHACHA20_POLY1305_SHA256": tls.TLS_CHACHA20_POLY1305_SHA256,
}

func parseRole(s string) (expat.Role, error) {
	switch s {
	case "client":
		return expat.Client, nil
	case "server":
		return expat.Server, nil
	}
	return 0, fmt.Errorf("role %q: want client or server", s)
}

// fixedExporter serves already-exported RFC 9261 values, for vectors that
// give handshake_context and finished_key instead of a master secret.
type fixedExporter struct {
	role   expat.Role
	hc, fk []byte
}

func (f fixedExporter) ExportKeyingMaterial(label string, _ []byte, n int) ([]byte, error) {
	side := f.role.String()
	switch label {
	case "EXPORTER-" + side + " authenticator handshake context":
		return f.hc, nil
	case "EXPORTER-" + side + " authenticator finished key":
		return f.fk, nil
	}
	return nil, fmt.Errorf("vector gives no exporter_master_secret, so label %q cannot be exported", label)
}

func (c common) channel(role expat.Role) (expat.Channel, error) {
	suite, ok := suites[c.CipherSuite]
	if !ok {
		return expat.Channel{}, fmt.Errorf("cipher_suite %q unknown", c.CipherSuite)
	}
	switch c.Transport {
	case "", "tls":
	case "dtls":
		if len(c.ExporterMasterSecret) == 0 {
			return expat.Channel{}, fmt.Errorf(`transport "dtls" needs exporter_master_secret`)
		}
		return expat.NewOfflineDTLSChannel(suite, c.ExporterMasterSecret)
	default:
		return expat.Channel{}, fmt.Errorf("transport %q: want tls or dtls", c.Transport)
	}
	if len(c.ExporterMasterSecret) > 0 {
		return expat.NewOfflineChannel(suite, c.ExporterMasterSecret)
	}
	if len(c.HandshakeContext) == 0 || len(c.FinishedKey) == 0 {
		return expat.Channel{}, fmt.Errorf("need exporter_master_secret or handshake_context + finished_key")
	}
	return expat.Channel{Exporter: fixedExporter{role, c.HandshakeContext, c.FinishedKey}, Suite: suite}, nil
}

// roleAndChannel parses role and builds the channel the vectors describe.
func (c common) roleAndChannel() (expat.Role, expat.Channel, error) {
	role, err := parseRole(c.Role)
	if err != nil {
		return 0, expat.Channel{}, err
	}
	ch, err := c.channel(role)
	return role, ch, err
}

// --- request ---------------------------------------------------------------

type requestInputs struct {
	common
	Context    Hex             `json:"context,omitempty"`
	Extensions []JSONExtension `json:"extensions,omitempty"`
	Request    Hex             `json:"request,omitempty"` // parse form
}

type requestExpected struct {
	Request          Hex      `json:"request,omitempty"`
	Context          Hex      `json:"context,omitempty"`
	SignatureSchemes []string `json:"signature_schemes,omitempty"`
	OffersCMW        bool     `json:"offers_cmw,omitempty"`
}

func runRequest(in, exp json.RawMessage) error {
	var i requestInputs
	if err := decodeStrict(in, &i); err != nil {
		return err
	}
	role, err := parseRole(i.Role)
	if err != nil {
		return err
	}
	var r *expat.Request
	if i.Request != nil {
		r, err = expat.ParseRequest(i.Request, role, i.CMWExtensionType)
	} else {
		r, err = expat.EncodeRequest(role, i.Context, toExtensions(i.Extensions), i.CMWExtensionType)
	}
	var e requestExpected
	if done, res := settle(exp, problemCode(err), err, &e); done {
		return res
	}
	if e.Request != nil && !bytes.Equal(r.Raw, e.Request) {
		return fmt.Errorf("%w: request\n got %x\nwant %x", errMismatch, r.Raw, []byte(e.Request))
	}
	if e.Context != nil && !bytes.Equal(r.Context, e.Context) {
		return fmt.Errorf("%w: context %x, want %x", errMismatch, r.Context, []byte(e.Context))
	}
	if e.SignatureSchemes != nil {
		got := fmt.Sprint(r.Schemes())
		if want := fmt.Sprint(schemeValues(e.SignatureSchemes)); got != want {
			return fmt.Errorf("%w: signature_schemes %s, want %s", errMismatch, got, want)
		}
	}
	if r.OffersCMW(i.CMWExtensionType) != e.OffersCMW {
		return fmt.Errorf("%w: offers_cmw %v", errMismatch, !e.OffersCMW)
	}
	return nil
}

func schemeValues(names []string) []expat.SignatureScheme {
	out := make([]expat.SignatureScheme, 0, len(names))
	for _, n := range names {
		s, err := expat.ParseSignatureScheme(n)
		if err != nil {
			s = 0
		}
		out = append(out, s)
	}
	return out
}

// --- authenticator ----------------------------------------------------------

type authInputs struct {
	common
	Request              Hex             `json:"request,omitempty"` // absent: spontaneous
	CertificateChain     []Hex           `json:"certificate_chain"`
	PrivateKey           Hex             `json:"private_key"` // PKCS#8, test keys only
	FirstEntryExtensions []JSONExtension `json:"first_entry_extensions,omitempty"`
	SignatureScheme      string          `json:"signature_scheme"`
	Context              Hex             `json:"context,omitempty"`            // spontaneous only
	OfferedSchemes       []string        `json:"offered_schemes,omitempty"`    // spontaneous only
	OfferedExtensions    []uint16        `json:"offered_extensions,omitempty"` // spontaneous only
}

type authExpected struct {
	Authenticator Hex  `json:"authenticator"`
	VerifyOnly    bool `json:"verify_only,omitempty"`
}

func (i *authInputs) request(role expat.Role) (*expat.Request, error) {
	if i.Request == nil {
		return nil, nil
	}
	return expat.ParseRequest(i.Request, role.Peer(), i.CMWExtensionType)
}

func runAuthenticator(in, exp json.RawMessage) error {
	var i authInputs
	if err := decodeStrict(in, &i); err != nil {
		return err
	}
	role, ch, err := i.roleAndChannel()
	if err != nil {
		return err
	}
	req, err := i.request(role)
	if err != nil {
		return fmt.Errorf("request input: %w", err)
	}
	key, err := x509.ParsePKCS8PrivateKey(i.PrivateKey)
	if err != nil {
		return fmt.Errorf("private_key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return fmt.Errorf("private_key: %T is not a signer", key)
	}
	id := &expat.Identity{Signer: signer, FirstEntryExtensions: toExtensions(i.FirstEntryExtensions)}
	for _, c := range i.CertificateChain {
		id.Chain = append(id.Chain, c)
	}
	opts := &expat.AuthOptions{CMWType: i.CMWExtensionType, Context: i.Context, Schemes: schemeValues(i.OfferedSchemes), OfferedExtensions: i.OfferedExtensions}
	got, err := expat.Authenticate(ch, role, req, id, opts)
	var e authExpected
	if done, res := settle(exp, problemCode(err), err, &e); done {
		return res
	}
	vopts := &expat.ValidateOptions{CMWType: i.CMWExtensionType, Schemes: opts.Schemes, OfferedExtensions: i.OfferedExtensions}
	for what, a := range map[string][]byte{"produced": got, "expected": e.Authenticator} {
		res, err := expat.Validate(ch, role, req, a, vopts)
		if err != nil {
			return fmt.Errorf("%s authenticator does not validate: %w", what, err)
		}
		if res.Scheme.String() != i.SignatureScheme {
			return fmt.Errorf("%s authenticator uses %v, want %s", what, res.Scheme, i.SignatureScheme)
		}
	}
	if !e.VerifyOnly && !bytes.Equal(got, e.Authenticator) {
		return fmt.Errorf("%w: authenticator\n got %x\nwant %x", errMismatch, got, []byte(e.Authenticator))
	}
	return nil
}

// --- empty-authenticator ----------------------------------------------------

func runEmptyAuthenticator(in, exp json.RawMessage) error {
	var i struct {
		common
		Request Hex `json:"request"`
	}
	if err := decodeStrict(in, &i); err != nil {
		return err
	}
	role, ch, err := i.roleAndChannel()
	if err != nil {
		return err
	}
	req, err := expat.ParseRequest(i.Request, role.Peer(), i.CMWExtensionType)
	if err != nil {
		return fmt.Errorf("request input: %w", err)
	}
	got, err := expat.AuthenticateEmpty(ch, role, req)
	var e authExpected
	if done, res := settle(exp, problemCode(err), err, &e); done {
		return res
	}
	if !bytes.Equal(got, e.Authenticator) {
		return fmt.Errorf("%w: empty authenticator\n got %x\nwant %x", errMismatch, got, []byte(e.Authenticator))
	}
	if _, err := expat.Validate(ch, role, req, got, nil); !errors.Is(err, expat.ErrEmptyAuthenticator) {
		return fmt.Errorf("validating it gave %v, want empty_authenticator", err)
	}
	return nil
}

// --- validate --------------------------------------------------------------

type validateInputs struct {
	common
	Request           Hex      `json:"request,omitempty"`
	Authenticator     Hex      `json:"authenticator"`
	OfferedSchemes    []string `json:"offered_schemes,omitempty"`
	OfferedExtensions []uint16 `json:"offered_extensions,omitempty"`
}

type validateExpected struct {
	CertificateChain []Hex  `json:"certificate_chain"`
	CMW              Hex    `json:"cmw,omitempty"`
	SignatureScheme  string `json:"signature_scheme"`
}

func runValidate(in, exp json.RawMessage) error {
	var i validateInputs
	if err := decodeStrict(in, &i); err != nil {
		return err
	}
	role, ch, err := i.roleAndChannel()
	if err != nil {
		return err
	}
	var req *expat.Request
	if i.Request != nil {
		// The request's maker is the validator; parse it as such. A request of
		// the wrong direction is itself a vector outcome (wrong_direction).
		maker := role.Peer()
		if req, err = expat.ParseRequest(i.Request, maker, i.CMWExtensionType); err != nil {
			if want := wantError(exp); want != "" {
				return checkError(want, problemCode(err), err)
			}
			return fmt.Errorf("request input: %w", err)
		}
	}
	res, err := expat.Validate(ch, role, req, i.Authenticator, &expat.ValidateOptions{
		CMWType: i.CMWExtensionType, Schemes: schemeValues(i.OfferedSchemes), OfferedExtensions: i.OfferedExtensions,
	})
	var e validateExpected
	if done, res := settle(exp, problemCode(err), err, &e); done {
		return res
	}
	if len(res.Entries) != len(e.CertificateChain) {
		return fmt.Errorf("%w: %d certificates, want %d", errMismatch, len(res.Entries), len(e.CertificateChain))
	}
	for k, c := range res.Entries {
		if !bytes.Equal(c.Raw, e.CertificateChain[k]) {
			return fmt.Errorf("%w: certificate %d", errMismatch, k)
		}
	}
	if !bytes.Equal(res.CMW, e.CMW) {
		return fmt.Errorf("%w: cmw %x, want %x", errMismatch, res.CMW, []byte(e.CMW))
	}
	if res.Scheme.String() != e.SignatureScheme {
		return fmt.Errorf("%w: scheme %v, want %s", errMismatch, res.Scheme, e.SignatureScheme)
	}
	return nil
}

// --- binder -----------------------------------------------------------------

type binderInputs struct {
	common
	Context Hex    `json:"context"`
	SPKI    Hex    `json:"spki,omitempty"`
	Profile string `json:"profile,omitempty"`
	Label   string `json:"label,omitempty"`
}

type binderExpected struct {
	Exported   Hex `json:"exported"`
	Binding    Hex `json:"binding"`
	AIKPubHash Hex `json:"aik_pub_hash,omitempty"`
	ReportData Hex `json:"report_data"`
}

// legacyBinderLabel is the label of a binder case that names no profile:
// the first v2 binder files predate profiles and meant seatrx's layout with
// this label (README.md, "Changes from v1").
const legacyBinderLabel = "Attestation"

// binderProfile resolves a case's profile: the named one with label as an
// override, or, with no profile, seatrx's layout with label (default
// legacyBinderLabel).
func binderProfile(id, label string) (tlsbind.Profile, error) {
	if id == "" {
		p, _ := tlsbind.LookupProfile(tlsbind.ProfileExpat03)
		p.Label = legacyBinderLabel
		if label != "" {
			p.Label = label
		}
		return p, nil
	}
	p, ok := tlsbind.LookupProfile(id)
	if !ok {
		return p, fmt.Errorf("profile %q unknown", id)
	}
	if label != "" {
		p.Label = label
	}
	return p, nil
}

func runBinder(in, exp json.RawMessage) error {
	var i binderInputs
	if err := decodeStrict(in, &i); err != nil {
		return err
	}
	ch, err := i.channel(expat.Client)
	if err != nil {
		return err
	}
	p, err := binderProfile(i.Profile, i.Label)
	if err != nil {
		return err
	}
	b, err := p.Binder(ch, i.Context, i.SPKI)
	if err != nil {
		return err
	}
	var e binderExpected
	if err := decodeStrict(exp, &e); err != nil {
		return err
	}
	for name, pair := range map[string][2][]byte{
		"exported": {b.Exported, e.Exported}, "binding": {b.Binding, e.Binding},
		"aik_pub_hash": {b.AIKPubHash, e.AIKPubHash}, "report_data": {b.ReportData[:], e.ReportData},
	} {
		if !bytes.Equal(pair[0], pair[1]) {
			return fmt.Errorf("%w: %s\n got %x\nwant %x", errMismatch, name, pair[0], pair[1])
		}
	}
	return nil
}
