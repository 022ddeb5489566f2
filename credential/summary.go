package credential

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// OIDAttestationSummary identifies the attestation summary extension
// (PROVISIONAL). It sits under 1.3.6.1.4.1.32473, the Private Enterprise
// Number IANA reserves for documentation (RFC 5612), because seatrx has no
// registered arc of its own: .7328 ("SEAT" on a phone keypad) is seatrx's
// provisional sub-arc, .1 its certificate extensions, .1 this one. Before
// SVIDs from seatrx are relied on across organisations it moves to a
// registered arc, and readers match it by this constant.
var OIDAttestationSummary = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 7328, 1, 1}

// SummaryVersion is the version of the extension's syntax this package
// writes and reads.
const SummaryVersion = 1

// Limits of the summary's strings, checked before anything is encoded or
// after the length is read.
const (
	MaxPlatformLen = 64
	MaxStatusLen   = 32
	// MaxSummarySize bounds the extension's DER value.
	MaxSummarySize = 512
)

// Summary is what the attestation summary extension says about the
// attestation a credential was issued on. Its DER (docs/PROTOCOL.md,
// "Credentials"):
//
//	SeatrxAttestationSummary ::= SEQUENCE {
//	    version     INTEGER (1),
//	    platform    UTF8String (SIZE (1..64)),  -- EAR submod: "sev-snp" / "tdx"
//	    status      UTF8String (SIZE (1..32)),  -- AR4SI tier: "affirming" / "warning"
//	    earDigest   OCTET STRING (SIZE (32)),   -- SHA-256 of the EAR (JWS compact bytes)
//	    simulated   BOOLEAN,                    -- the evidence chained to a test PKI
//	    attestedAt  GeneralizedTime             -- when the evidence was appraised (UTC, seconds)
//	}
//
// The extension is not critical: a relying party that does not know it
// still verifies the SVID.
type Summary struct {
	Platform   string
	Status     string
	EARDigest  [sha256.Size]byte
	Simulated  bool
	AttestedAt time.Time
}

// NewSummary builds the summary of an attestation from its EAR (whose
// SHA-256 it records) and appraisal outcome.
func NewSummary(platform, status string, earJWT []byte, simulated bool, at time.Time) Summary {
	return Summary{Platform: platform, Status: status, EARDigest: sha256.Sum256(earJWT), Simulated: simulated, AttestedAt: at.UTC().Truncate(time.Second)}
}

func (s *Summary) check() error {
	if s.Platform == "" || len(s.Platform) > MaxPlatformLen || !utf8.ValidString(s.Platform) {
		return errorf(CodeBadSummary, "platform", "%d bytes, want 1..%d of UTF-8", len(s.Platform), MaxPlatformLen)
	}
	if s.Status == "" || len(s.Status) > MaxStatusLen || !utf8.ValidString(s.Status) {
		return errorf(CodeBadSummary, "status", "%d bytes, want 1..%d of UTF-8", len(s.Status), MaxStatusLen)
	}
	if y := s.AttestedAt.UTC().Year(); y < 2000 || y > 9999 {
		return errorf(CodeBadSummary, "attestedAt", "year %d outside 2000..9999", y)
	}
	return nil
}

// Marshal returns the extension's DER value.
func (s Summary) Marshal() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(SummaryVersion)
		b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(s.Platform)) })
		b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(s.Status)) })
		b.AddASN1OctetString(s.EARDigest[:])
		b.AddASN1Boolean(s.Simulated)
		b.AddASN1GeneralizedTime(s.AttestedAt.UTC().Truncate(time.Second))
	})
	return b.Bytes()
}

// ParseSummary decodes the extension's DER value strictly: exactly the
// fields above, in order, DER, version 1, nothing after them. Errors are
// *Error with CodeBadSummary naming the field.
func ParseSummary(der []byte) (*Summary, error) {
	if len(der) > MaxSummarySize {
		return nil, errorf(CodeBadSummary, "", "%d bytes, limit %d", len(der), MaxSummarySize)
	}
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, errorf(CodeBadSummary, "", "not one DER SEQUENCE")
	}
	var s Summary
	var version int64
	if !seq.ReadASN1Integer(&version) {
		return nil, errorf(CodeBadSummary, "version", "not an INTEGER")
	}
	if version != SummaryVersion {
		return nil, errorf(CodeBadSummary, "version", "%d, this reader knows %d", version, SummaryVersion)
	}
	var platform, status, digest cryptobyte.String
	if !seq.ReadASN1(&platform, cbasn1.UTF8String) {
		return nil, errorf(CodeBadSummary, "platform", "not a UTF8String")
	}
	if !seq.ReadASN1(&status, cbasn1.UTF8String) {
		return nil, errorf(CodeBadSummary, "status", "not a UTF8String")
	}
	s.Platform, s.Status = string(platform), string(status)
	if !seq.ReadASN1(&digest, cbasn1.OCTET_STRING) {
		return nil, errorf(CodeBadSummary, "earDigest", "not an OCTET STRING")
	}
	if len(digest) != sha256.Size {
		return nil, errorf(CodeBadSummary, "earDigest", "%d bytes, want %d (SHA-256)", len(digest), sha256.Size)
	}
	copy(s.EARDigest[:], digest)
	if !seq.ReadASN1Boolean(&s.Simulated) {
		return nil, errorf(CodeBadSummary, "simulated", "not a DER BOOLEAN")
	}
	if !seq.ReadASN1GeneralizedTime(&s.AttestedAt) {
		return nil, errorf(CodeBadSummary, "attestedAt", "not a DER GeneralizedTime")
	}
	if !seq.Empty() {
		return nil, errorf(CodeBadSummary, "", "%d bytes after attestedAt", len(seq))
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return &s, nil
}

// SummaryOf returns the attestation summary of cert, or an error naming
// why there is none (no such extension, twice, critical, or malformed).
func SummaryOf(cert *x509.Certificate) (*Summary, error) {
	var found []byte
	for _, e := range cert.Extensions {
		if !e.Id.Equal(OIDAttestationSummary) {
			continue
		}
		if found != nil {
			return nil, errorf(CodeBadSummary, "", "the extension appears twice")
		}
		if e.Critical {
			return nil, errorf(CodeBadSummary, "", "the extension is marked critical; seatrx never does")
		}
		found = e.Value
	}
	if found == nil {
		return nil, errorf(CodeBadSummary, "", "no attestation summary extension (%s)", OIDAttestationSummary)
	}
	return ParseSummary(found)
}

// String renders the summary on one line.
func (s *Summary) String() string {
	return fmt.Sprintf("platform %s, status %s, simulated %v, attested %s, EAR sha256:%x", s.Platform, s.Status, s.Simulated, s.AttestedAt.Format(time.RFC3339), s.EARDigest)
}
