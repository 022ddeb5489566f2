package capture

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/handshake"
	"github.com/seatrx/seatrx/tlsbind"
)

// DumpWarning is printed when a dump is opened.
const DumpWarning = `WARNING: --dump %s is ON. Every exported-authenticator message is written there with
WARNING: the connection's RFC 9261 exporter outputs (handshake context and finished key:
WARNING: enough to make authenticators on a live connection). Debugging only.
`

// DumpSchema identifies the index format.
const DumpSchema = "seatrx-dump/v1"

// Direction says whether this side sent or received a message.
type Direction string

// Directions.
const (
	Sent     Direction = "sent"
	Received Direction = "received"
)

// Message kinds.
const (
	KindRequest       = "request"       // an Authenticator Request
	KindAuthenticator = "authenticator" // an Authenticator (or empty authenticator)
	KindResult        = "result"        // an acceptance (the EAR about the attester)
	KindError         = "error"         // a refusal (a problem document)
)

// Dump writes one directory per connection under DIR/<run>, where run is
// the start time and process id, so that runs never mix:
//
//	DIR/<run>/<session>/index.json   the index (schema seatrx-dump/v1)
//	DIR/<run>/<session>/NNN-*.hex    one byte string per file, lowercase hex,
//	                                 32 bytes a line (xxd -r -p reads it)
//
// The index is rewritten (atomically) after every item, so it is complete
// up to the last item even if the process dies. A nil *Dump records
// nothing, so callers need no checks.
type Dump struct {
	dir     string
	onError func(error)

	mu    sync.Mutex
	names map[string]int
}

// OpenDump creates DIR (mode 0700) and this run's directory in it, writes
// DumpWarning to warn, and reports later write failures there too (a dump
// that cannot be written never fails the connection).
func OpenDump(dir string, warn io.Writer) (*Dump, error) {
	run := fmt.Sprintf("%s-%d", time.Now().UTC().Format("20060102T150405.000Z"), os.Getpid())
	path := filepath.Join(dir, run)
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("--dump: %w", err)
	}
	if warn != nil {
		fmt.Fprintf(warn, DumpWarning, dir)
	}
	return &Dump{dir: path, names: map[string]int{}, onError: func(err error) {
		if warn != nil {
			fmt.Fprintf(warn, "--dump: %v\n", err)
		}
	}}, nil
}

// Dir returns this run's directory.
func (d *Dump) Dir() string {
	if d == nil {
		return ""
	}
	return d.dir
}

// Session is the record of one connection. A nil *Session records nothing.
type Session struct {
	d   *Dump
	dir string
	ch  expat.Channel

	mu       sync.Mutex
	idx      index
	failed   bool
	requests [][]byte // requests sent, for Evidence to find the one answered
}

type index struct {
	Schema  string     `json:"schema"`
	Session string     `json:"session"`
	Role    string     `json:"role"` // this side of TLS
	Started string     `json:"started"`
	TLS     *tlsInfo   `json:"tls,omitempty"`
	Items   []indexRow `json:"items"`
}

type tlsInfo struct {
	Version     string `json:"version"`
	CipherSuite string `json:"cipher_suite"`
	ALPN        string `json:"alpn,omitempty"`
	ServerName  string `json:"server_name,omitempty"`
	Resumed     bool   `json:"resumed"`
}

// indexRow is one item. Byte strings up to 64 bytes are also given inline
// (and then without a digest).
type indexRow struct {
	Seq      int               `json:"seq"`
	Time     string            `json:"time"`
	What     string            `json:"what"`
	Dir      Direction         `json:"dir,omitempty"`
	Label    string            `json:"label,omitempty"`
	Context  *string           `json:"context,omitempty"`
	Profile  string            `json:"profile,omitempty"`
	Code     string            `json:"code,omitempty"`
	Note     string            `json:"note,omitempty"`
	Bytes    int               `json:"bytes,omitempty"`
	SHA256   string            `json:"sha256,omitempty"`
	Hex      string            `json:"hex,omitempty"`
	File     string            `json:"file,omitempty"`
	Values   map[string]string `json:"values,omitempty"` // a binder's parts up to 64 bytes, hex
	Children []string          `json:"files,omitempty"`
}

// Start begins the record of a connection named name (e.g. "server-c3",
// made unique within the run) on which this side plays self, and records
// the RFC 9261 exporter outputs of both directions.
func (d *Dump) Start(name string, self expat.Role, cs *tls.ConnectionState) *Session {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	base := sanitize(name)
	d.names[base]++
	if n := d.names[base]; n > 1 {
		base = fmt.Sprintf("%s-%d", base, n)
	}
	d.mu.Unlock()
	s := &Session{d: d, dir: filepath.Join(d.dir, base), idx: index{Schema: DumpSchema, Session: base, Role: self.String(), Started: stamp(), Items: []indexRow{}}}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		s.fail(err)
		return s
	}
	if cs != nil {
		s.idx.TLS = &tlsInfo{Version: tls.VersionName(cs.Version), CipherSuite: tls.CipherSuiteName(cs.CipherSuite),
			ALPN: cs.NegotiatedProtocol, ServerName: cs.ServerName, Resumed: cs.DidResume}
		ch, err := expat.ChannelFromTLS(cs)
		if err != nil {
			s.note("exporter", "no exporter outputs: "+err.Error())
			return s
		}
		s.ch = ch
		s.exporters()
	}
	s.flush()
	return s
}

// exporters records the four RFC 9261 §5.1 exporter outputs (empty
// context, hash length).
func (s *Session) exporters() {
	h, err := s.ch.Hash()
	if err != nil {
		s.note("exporter", err.Error())
		return
	}
	for _, sender := range []string{"client", "server"} {
		k, err := handshake.DeriveKeys(s.ch.Export, h, sender)
		if err != nil {
			s.note("exporter", err.Error())
			return
		}
		empty := ""
		for _, v := range []struct {
			label string
			value []byte
		}{{"EXPORTER-" + sender + " authenticator handshake context", k.HandshakeContext}, {"EXPORTER-" + sender + " authenticator finished key", k.FinishedKey}} {
			s.add(indexRow{What: "exporter", Label: v.label, Context: &empty}, fileName("exporter", sender, lastWords(v.label)), v.value)
		}
	}
}

// Message records a message sent or received: kind is KindRequest,
// KindAuthenticator, KindResult or KindError; code, if set, is the wire
// code a refusal carried.
func (s *Session) Message(dir Direction, kind string, b []byte, code string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if dir == Sent && kind == KindRequest {
		s.requests = append(s.requests, bytes.Clone(b))
	}
	s.add(indexRow{What: kind, Dir: dir, Code: code}, fileName(string(dir), kind), b)
	s.flush()
}

// Proof records this side's attestation as sent: the binder its evidence
// carries and the authenticator.
func (s *Session) Proof(p *tlsbind.Proof) {
	if s == nil || p == nil {
		return
	}
	var spki []byte
	if c, err := x509.ParseCertificate(p.Certificate); err == nil {
		spki = c.RawSubjectPublicKeyInfo
	}
	ctx, _ := expat.AuthenticatorContext(p.Authenticator)
	s.Binder("derived by this attester; its evidence carries this REPORTDATA", p.Binder, ctx, spki)
	s.Message(Sent, KindAuthenticator, p.Authenticator, "")
}

// Binder records a binder this side derived (as attester, the one its
// evidence carries; as relying party, the one it expects) for request
// context ctx and key spki; note says which.
func (s *Session) Binder(note string, b *tlsbind.Binder, ctx, spki []byte) {
	if s == nil || b == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := hex.EncodeToString(ctx)
	row := indexRow{What: "binder", Profile: b.Profile.ID, Label: b.Profile.Label, Context: &c, Note: note}
	seq := len(s.idx.Items) + 1
	for _, v := range []struct {
		name  string
		value []byte
	}{{"exported", b.Exported}, {"binding", b.Binding}, {"aik-pub-hash", b.AIKPubHash}, {"report-data", b.ReportData[:]}, {"spki", spki}} {
		if v.value == nil {
			continue
		}
		f := fmt.Sprintf("%03d-binder-%s.hex", seq, v.name)
		if s.write(f, v.value) {
			row.Children = append(row.Children, f)
		}
		if len(v.value) <= 64 {
			if row.Values == nil {
				row.Values = map[string]string{}
			}
			row.Values[strings.ReplaceAll(v.name, "-", "_")] = hex.EncodeToString(v.value)
		}
	}
	s.push(row)
	s.flush()
}

// Evidence records what a received authenticator's evidence claims, to
// explain a refusal (it decides nothing): if the authenticator answers one
// of the requests this session recorded as sent and is valid under RFC 9261
// (validated here again, for each codepoint of profiles), the REPORTDATA
// its evidence carries, unverified, and the binder each profile expects for
// its key.
func (s *Session) Evidence(auth []byte, peer expat.Role, profiles []tlsbind.Profile) {
	if s == nil || s.ch.Exporter == nil {
		return
	}
	ctx, err := expat.AuthenticatorContext(auth)
	if err != nil {
		return
	}
	s.mu.Lock()
	reqs := slices.Clone(s.requests)
	s.mu.Unlock()
	for _, p := range profiles {
		for _, raw := range reqs {
			req, err := expat.ParseRequest(raw, peer.Peer(), p.CMWType)
			if err != nil || !bytes.Equal(req.Context, ctx) {
				continue
			}
			s.evidence(auth, req, peer, p)
		}
	}
}

func (s *Session) evidence(auth []byte, req *expat.Request, peer expat.Role, p tlsbind.Profile) {
	a, err := expat.Validate(s.ch, peer, req, auth, &expat.ValidateOptions{CMWType: p.CMWType})
	if err != nil || a.CMW == nil {
		return
	}
	spki := a.Chain[0].RawSubjectPublicKeyInfo
	if car, err := p.OpenCMWData(a.CMW); err == nil && car.Evidence.Kind == evidence.KindEvidence {
		if rd, err := car.Evidence.UnverifiedReportData(); err == nil {
			s.mu.Lock()
			s.add(indexRow{What: "report_data", Dir: Received, Profile: p.ID, Note: "REPORTDATA the evidence carries (unverified)"}, fileName("received", "report-data", p.ID), rd[:])
			s.flush()
			s.mu.Unlock()
		}
	}
	if b, err := p.Binder(s.ch, req.Context, spki); err == nil {
		s.Binder("expected by this relying party in profile "+p.ID, b, req.Context, spki)
	}
}

// note records a line of text.
func (s *Session) note(what, text string) {
	s.push(indexRow{What: what, Note: text})
}

// add writes value to file (if not empty) and appends row with its size,
// digest and, when short, the value inline. The caller holds s.mu (or owns
// s exclusively).
func (s *Session) add(row indexRow, file string, value []byte) {
	seq := len(s.idx.Items) + 1
	row.Bytes = len(value)
	if len(value) > 0 {
		name := fmt.Sprintf("%03d-%s.hex", seq, file)
		if s.write(name, value) {
			row.File = name
		}
	}
	if len(value) <= 64 {
		row.Hex = hex.EncodeToString(value)
	} else {
		sum := sha256.Sum256(value)
		row.SHA256 = hex.EncodeToString(sum[:])
	}
	s.push(row)
}

func (s *Session) push(row indexRow) {
	row.Seq, row.Time = len(s.idx.Items)+1, stamp()
	s.idx.Items = append(s.idx.Items, row)
}

// write writes value as hex lines of 32 bytes.
func (s *Session) write(name string, value []byte) bool {
	var b strings.Builder
	for len(value) > 0 {
		n := min(32, len(value))
		b.WriteString(hex.EncodeToString(value[:n]))
		b.WriteByte('\n')
		value = value[n:]
	}
	if err := os.WriteFile(filepath.Join(s.dir, name), []byte(b.String()), 0o600); err != nil {
		s.fail(err)
		return false
	}
	return true
}

// flush rewrites index.json atomically.
func (s *Session) flush() {
	out, err := json.MarshalIndent(s.idx, "", "  ")
	if err != nil {
		s.fail(err)
		return
	}
	tmp, err := os.CreateTemp(s.dir, ".index-*")
	if err == nil {
		_, err = tmp.Write(append(out, '\n'))
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), filepath.Join(s.dir, "index.json"))
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		s.fail(err)
	}
}

// fail reports the session's first write failure.
func (s *Session) fail(err error) {
	if !s.failed && s.d.onError != nil {
		s.d.onError(fmt.Errorf("session %s: %w", s.idx.Session, err))
	}
	s.failed = true
}

// Dir returns the session's directory ("" for a nil session).
func (s *Session) Dir() string {
	if s == nil {
		return ""
	}
	return s.dir
}

func stamp() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func fileName(parts ...string) string {
	return sanitize(strings.Join(parts, "-"))
}

// lastWords turns "EXPORTER-client authenticator handshake context" into
// "handshake-context".
func lastWords(label string) string {
	f := strings.Fields(label)
	if len(f) < 2 {
		return label
	}
	return strings.Join(f[len(f)-2:], "-")
}

// sanitize keeps [A-Za-z0-9._-] and replaces anything else with '-'.
func sanitize(s string) string {
	out := []byte(s)
	for i, c := range out {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			out[i] = '-'
		}
	}
	if len(out) == 0 || out[0] == '.' {
		return "session" + string(out)
	}
	return string(out)
}
