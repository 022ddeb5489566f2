package evidence

import (
	"encoding/binary"
	"maps"
	"mime"

	"github.com/veraison/cmw"

	"github.com/seatrx/seatrx/evidence/tdx"
)

// Media types of the CMW records seatrx sends and accepts (docs/PROTOCOL.md §5). They are
// provisional vendor types: none is registered, so none has a CoAP Content-Format
// and the CBOR tag form of a CMW cannot be used for them.
const (
	// MediaTypeSNPReport is a raw 1184-byte AMD SEV-SNP ATTESTATION_REPORT.
	MediaTypeSNPReport = "application/vnd.amd.sev-snp.attestation-report"
	// MediaTypeSNPCertTable is the GHCB GUID certificate table (VCEK/VLEK, ASK, ARK).
	MediaTypeSNPCertTable = "application/vnd.amd.sev-snp.cert-table"
	// MediaTypeTDXQuote is an Intel TDX quote, version 4, with the PCK chain inside.
	MediaTypeTDXQuote = "application/vnd.intel.tdx.quote; version=4"
	// MediaTypeTDXQuoteV5 is an Intel TDX quote, version 5 (TDX 1.5 hosts),
	// with the PCK chain inside.
	MediaTypeTDXQuoteV5 = "application/vnd.intel.tdx.quote; version=5"
	// MediaTypeTDXCollateral is TDX collateral (TCB info, QE identity, CRLs) as JSON.
	MediaTypeTDXCollateral = "application/vnd.intel.tdx.collateral+json"
	// MediaTypeEAR is an EAT Attestation Result (Veraison EAR profile) as a JWT.
	MediaTypeEAR = `application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"`
)

// CollectionType is the "__cmwc_t" of seatrx's background-check CMW collection; it
// namespaces the collection labels below.
const CollectionType = "tag:github.com,2026:seatrx/cmw/v1"

// Collection labels of the background-check CMW collection.
const (
	LabelEvidence     = "evidence"
	LabelEndorsements = "endorsements"
)

// mediaType is one row of the table of accepted record media types: where a
// record of that type may appear and which indicator it must carry.
type mediaType struct {
	name     string        // as sent
	label    string        // collection label it must sit under; "" = top-level record
	platform Platform      // "" for the EAR
	ind      cmw.Indicator // the indicator bit it must carry (when ind is present)
	// quoteVersion, for TDX quotes, is the header version the type declares.
	quoteVersion uint16

	typ    string            // parsed, for comparison
	params map[string]string // parsed, for comparison
}

// mediaTypes is the single table of accepted media types.
var mediaTypes = func() []mediaType {
	rows := []mediaType{
		{name: MediaTypeSNPReport, label: LabelEvidence, platform: PlatformSNP, ind: cmw.Evidence},
		{name: MediaTypeSNPCertTable, label: LabelEndorsements, platform: PlatformSNP, ind: cmw.Endorsements},
		{name: MediaTypeTDXQuote, label: LabelEvidence, platform: PlatformTDX, ind: cmw.Evidence, quoteVersion: tdx.QuoteV4},
		{name: MediaTypeTDXQuoteV5, label: LabelEvidence, platform: PlatformTDX, ind: cmw.Evidence, quoteVersion: tdx.QuoteV5},
		{name: MediaTypeTDXCollateral, label: LabelEndorsements, platform: PlatformTDX, ind: cmw.Endorsements},
		{name: MediaTypeEAR, label: "", platform: "", ind: cmw.AttestationResults},
	}
	for i := range rows {
		t, p, err := mime.ParseMediaType(rows[i].name)
		if err != nil {
			panic("evidence: bad media type constant " + rows[i].name)
		}
		rows[i].typ, rows[i].params = t, p
	}
	return rows
}()

// lookupMediaType finds s in the table, comparing type and parameters the way
// RFC 6838 does (case-insensitive type and parameter names, any spacing).
func lookupMediaType(s string) (*mediaType, bool) {
	t, p, err := mime.ParseMediaType(s)
	if err != nil {
		return nil, false
	}
	for i := range mediaTypes {
		if mediaTypes[i].typ == t && maps.Equal(mediaTypes[i].params, p) {
			return &mediaTypes[i], true
		}
	}
	return nil, false
}

// tdxQuoteType returns the media type for a TDX quote: the version=5 type
// for a quote whose header says version 5, else the version=4 type.
func tdxQuoteType(quote []byte) string {
	if len(quote) >= 2 && binary.LittleEndian.Uint16(quote) == tdx.QuoteV5 {
		return MediaTypeTDXQuoteV5
	}
	return MediaTypeTDXQuote
}

// checkQuoteVersion refuses a TDX quote whose header declares the other
// supported version than its media type; other versions are left to the
// verifier (tdx.decode).
func (row *mediaType) checkQuoteVersion(value []byte, w string) error {
	if row.quoteVersion == 0 || len(value) < 2 {
		return nil
	}
	v := binary.LittleEndian.Uint16(value)
	if (v == tdx.QuoteV4 || v == tdx.QuoteV5) && v != row.quoteVersion {
		return formatErr("%s: media type says TDX quote version %d, the quote header says %d", w, row.quoteVersion, v)
	}
	return nil
}
