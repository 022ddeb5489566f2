package evidence

import (
	"maps"
	"mime"

	"github.com/veraison/cmw"
)

// Media types of the CMW records seatrx sends and accepts (DESIGN.md §5). They are
// provisional vendor types: none is registered, so none has a CoAP Content-Format
// and the CBOR tag form of a CMW cannot be used for them.
const (
	// MediaTypeSNPReport is a raw 1184-byte AMD SEV-SNP ATTESTATION_REPORT.
	MediaTypeSNPReport = "application/vnd.amd.sev-snp.attestation-report"
	// MediaTypeSNPCertTable is the GHCB GUID certificate table (VCEK/VLEK, ASK, ARK).
	MediaTypeSNPCertTable = "application/vnd.amd.sev-snp.cert-table"
	// MediaTypeTDXQuote is an Intel TDX quote, version 4, with the PCK chain inside.
	MediaTypeTDXQuote = "application/vnd.intel.tdx.quote; version=4"
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

	typ    string            // parsed, for comparison
	params map[string]string // parsed, for comparison
}

// mediaTypes is the single table of accepted media types.
var mediaTypes = func() []mediaType {
	rows := []mediaType{
		{name: MediaTypeSNPReport, label: LabelEvidence, platform: PlatformSNP, ind: cmw.Evidence},
		{name: MediaTypeSNPCertTable, label: LabelEndorsements, platform: PlatformSNP, ind: cmw.Endorsements},
		{name: MediaTypeTDXQuote, label: LabelEvidence, platform: PlatformTDX, ind: cmw.Evidence},
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
