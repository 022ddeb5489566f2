package evidence

import (
	"fmt"

	"github.com/veraison/cmw"

	"github.com/seatrx/seatrx/evidence/check"
)

// Platform names a TEE type whose evidence seatrx can verify.
type Platform string

// Supported platforms.
const (
	PlatformSNP Platform = "sev-snp"
	PlatformTDX Platform = "tdx"
)

// Kind says what a decoded CMW carries: evidence to verify (background-check
// model) or an attestation result from an external verifier (passport model).
type Kind string

// CMW kinds.
const (
	KindEvidence          Kind = "evidence"
	KindAttestationResult Kind = "attestation-result"
)

// Decoded is the content of a validated cmw_attestation payload: evidence of
// one platform with its optional endorsements (KindEvidence), or an EAR
// (KindAttestationResult).
type Decoded struct {
	Kind     Kind
	Platform Platform // "" for an attestation result

	// Evidence is the platform's signed evidence: the SEV-SNP report or the
	// TDX quote.
	Evidence []byte
	// Endorsements is what the attester sent to help verify it (may be nil):
	// the SEV-SNP GHCB certificate table or the TDX collateral JSON.
	Endorsements []byte
	// EAR is the JWT of an attestation result.
	EAR []byte
}

// EncodeSNP wraps an SEV-SNP report and its optional GHCB certificate table in
// the background-check CMW collection (CBOR).
func EncodeSNP(report, certTable []byte) ([]byte, error) {
	return encodeCollection(MediaTypeSNPReport, report, MediaTypeSNPCertTable, certTable)
}

// EncodeTDX wraps a TDX quote and optional collateral JSON in the
// background-check CMW collection (CBOR), typed by the quote's version (4 or 5).
func EncodeTDX(quote, collateral []byte) ([]byte, error) {
	return encodeCollection(tdxQuoteType(quote), quote, MediaTypeTDXCollateral, collateral)
}

// EncodeEAR wraps an EAR JWT in the passport-model CMW record (CBOR).
func EncodeEAR(jwt []byte) ([]byte, error) {
	if len(jwt) == 0 {
		return nil, formatErr("encode: empty EAR")
	}
	if len(jwt) > MaxCMWSize {
		return nil, formatErr("encode: EAR is %d bytes, max CMW size %d", len(jwt), MaxCMWSize)
	}
	rec, err := cmw.NewMonad(MediaTypeEAR, jwt, cmw.AttestationResults)
	if err != nil {
		return nil, fmt.Errorf("evidence: encode EAR record: %w", err)
	}
	return finishEncode(rec)
}

func encodeCollection(evMT string, ev []byte, endMT string, end []byte) ([]byte, error) {
	if len(ev) == 0 {
		return nil, formatErr("encode: empty evidence")
	}
	if len(ev)+len(end) > MaxCMWSize {
		return nil, formatErr("encode: evidence and endorsements are %d bytes, max CMW size %d", len(ev)+len(end), MaxCMWSize)
	}
	col, err := cmw.NewCollection(CollectionType)
	if err != nil {
		return nil, fmt.Errorf("evidence: new collection: %w", err)
	}
	rec, err := cmw.NewMonad(evMT, ev, cmw.Evidence)
	if err != nil {
		return nil, fmt.Errorf("evidence: encode evidence record: %w", err)
	}
	if err := col.AddCollectionItem(LabelEvidence, rec); err != nil {
		return nil, fmt.Errorf("evidence: add evidence: %w", err)
	}
	if len(end) > 0 {
		rec, err := cmw.NewMonad(endMT, end, cmw.Endorsements)
		if err != nil {
			return nil, fmt.Errorf("evidence: encode endorsements record: %w", err)
		}
		if err := col.AddCollectionItem(LabelEndorsements, rec); err != nil {
			return nil, fmt.Errorf("evidence: add endorsements: %w", err)
		}
	}
	return finishEncode(col)
}

func finishEncode(c *cmw.CMW) ([]byte, error) {
	b, err := c.MarshalCBOR()
	if err != nil {
		return nil, fmt.Errorf("evidence: marshal CMW: %w", err)
	}
	if len(b) > MaxCMWSize {
		return nil, formatErr("encode: CMW is %d bytes, max %d", len(b), MaxCMWSize)
	}
	return b, nil
}

// Decode parses and validates a cmw_attestation payload (CBOR or JSON) against
// the seatrx profile. Errors are *check.Error with code cmw.decode (not a
// parseable CMW) or cmw.format (a CMW, but not one this profile accepts).
func Decode(b []byte) (*Decoded, error) {
	sh, err := precheck(b)
	if err != nil {
		return nil, err
	}
	c, err := libDeserialize(b)
	if err != nil {
		return nil, err
	}
	if sh.collection {
		return decodeCollection(c, sh)
	}
	return decodeRecord(c)
}

// libDeserialize runs the CMW library's decoder. The pre-check already rejected
// everything known to crash it (negative int labels, non-string JSON values,
// deep nesting); recover() is only the last line of defence against unknown
// panics in third-party code and maps them to cmw.decode.
func libDeserialize(b []byte) (c *cmw.CMW, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, check.Errorf(check.CMW, check.Decode, "CMW library panicked: %v", r)
		}
	}()
	var out cmw.CMW
	if err := out.Deserialize(b); err != nil {
		return nil, decodeErr(err, "CMW library rejected the input")
	}
	return &out, nil
}

// libRecord extracts a record's fields via the library, guarding against
// panics for the same reason as libDeserialize.
func libRecord(c *cmw.CMW, w string) (mt string, val []byte, ind cmw.Indicator, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = check.Errorf(check.CMW, check.Decode, "%s: CMW library panicked: %v", w, r)
		}
	}()
	if c.GetKind() != cmw.KindMonad {
		return "", nil, 0, formatErr("%s: want a record, got a %s", w, c.GetKind())
	}
	if mt, err = c.GetMonadType(); err != nil {
		return "", nil, 0, decodeErr(err, "%s: type", w)
	}
	if val, err = c.GetMonadValue(); err != nil {
		return "", nil, 0, decodeErr(err, "%s: value", w)
	}
	if ind, err = c.GetMonadIndicator(); err != nil {
		return "", nil, 0, decodeErr(err, "%s: ind", w)
	}
	return mt, val, ind, nil
}

// checkRecord validates one record against the media-type table: the type must
// be listed for this position, and ind, when present, must match it.
func checkRecord(c *cmw.CMW, label string) (*mediaType, []byte, error) {
	w := where(label)
	mt, val, ind, err := libRecord(c, w)
	if err != nil {
		return nil, nil, err
	}
	row, ok := lookupMediaType(mt)
	if !ok {
		return nil, nil, formatErr("%s: media type %q not allowed", w, mt)
	}
	if row.label != label {
		if label == "" {
			return nil, nil, formatErr("%s: media type %q not allowed as a single record (evidence travels in a %q collection)", w, mt, CollectionType)
		}
		return nil, nil, formatErr("%s: media type %q not allowed under this label", w, mt)
	}
	if ind != 0 && ind != row.ind {
		return nil, nil, formatErr("%s: ind %d does not match media type %q (want %d)", w, ind, mt, row.ind)
	}
	if len(val) == 0 { // the pre-check already refused this
		return nil, nil, formatErr("%s: empty value", w)
	}
	if err := row.checkQuoteVersion(val, w); err != nil {
		return nil, nil, err
	}
	return row, val, nil
}

func decodeRecord(c *cmw.CMW) (*Decoded, error) {
	_, val, err := checkRecord(c, "")
	if err != nil {
		return nil, err
	}
	return &Decoded{Kind: KindAttestationResult, EAR: val}, nil
}

func decodeCollection(c *cmw.CMW, sh *shape) (*Decoded, error) {
	if c.GetKind() != cmw.KindCollection { // the pre-check and library disagree
		return nil, check.Errorf(check.CMW, check.Decode, "library decoded a %s where a collection was seen", c.GetKind())
	}
	if sh.ctype != CollectionType {
		return nil, formatErr("collection: %s %q, want %q", cmw.CmwCType, sh.ctype, CollectionType)
	}
	for _, l := range sh.labels {
		if l != LabelEvidence && l != LabelEndorsements {
			return nil, formatErr("collection label %q: unknown label", l)
		}
	}
	if _, ok := sh.items[LabelEvidence]; !ok {
		return nil, formatErr("collection label %q: missing", LabelEvidence)
	}
	evItem, err := c.GetCollectionItem(LabelEvidence)
	if err != nil {
		return nil, decodeErr(err, "collection label %q", LabelEvidence)
	}
	evRow, ev, err := checkRecord(evItem, LabelEvidence)
	if err != nil {
		return nil, err
	}
	d := &Decoded{Kind: KindEvidence, Platform: evRow.platform, Evidence: ev}
	if _, ok := sh.items[LabelEndorsements]; ok {
		endItem, err := c.GetCollectionItem(LabelEndorsements)
		if err != nil {
			return nil, decodeErr(err, "collection label %q", LabelEndorsements)
		}
		endRow, v, err := checkRecord(endItem, LabelEndorsements)
		if err != nil {
			return nil, err
		}
		if endRow.platform != evRow.platform {
			return nil, formatErr("collection label %q: %s endorsements with %s evidence", LabelEndorsements, endRow.platform, evRow.platform)
		}
		d.Endorsements = v
	}
	return d, nil
}
