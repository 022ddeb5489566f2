package evidencecli

import (
	"encoding/binary"
	"fmt"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
)

// detectFormat guesses the format of in from its first bytes and size, and
// says why. It returns "" when nothing fits.
func detectFormat(in []byte) (format, why string) {
	if len(in) == 0 {
		return "", "empty file"
	}
	switch c := in[0]; {
	case c == '{' || c == '[':
		return FormatCMW, fmt.Sprintf("starts with %q, a JSON CMW", c)
	case c == 0x82 || c == 0x83 || c == 0x9f || (c >= 0xa0 && c <= 0xbb) || c == 0xbf:
		return FormatCMW, fmt.Sprintf("starts with 0x%02x, a CBOR CMW record or collection", c)
	}
	if v := binary.LittleEndian.Uint16(in); len(in) >= 8 && (v == tdx.QuoteV4 || v == tdx.QuoteV5) &&
		binary.LittleEndian.Uint16(in[2:]) == 2 && binary.LittleEndian.Uint32(in[4:]) == 0x81 {
		return FormatTDXQuote, fmt.Sprintf("TDX quote v%d header (ECDSA P-256 key, TEE type 0x81)", v)
	}
	if len(in) >= 4 {
		if v := binary.LittleEndian.Uint32(in); v >= 2 && v <= 5 {
			switch {
			case len(in) == snp.ReportSize:
				return FormatSNPReport, fmt.Sprintf("%d bytes, SEV-SNP report version %d", len(in), v)
			case len(in) > snp.ReportSize:
				return FormatSNPExtended, fmt.Sprintf("%d bytes, SEV-SNP report version %d followed by %d bytes of certificate table",
					len(in), v, len(in)-snp.ReportSize)
			}
		}
	}
	return "", fmt.Sprintf("%d bytes starting 0x%02x match no known format", len(in), in[0])
}

// split turns raw evidence of a known format into the verifier's input; it
// returns nil for FormatCMW, which the verifier decodes itself.
func split(format string, in []byte) (*evidence.Decoded, error) {
	switch format {
	case FormatCMW:
		return nil, nil
	case FormatSNPReport:
		return &evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformSNP, Evidence: in}, nil
	case FormatSNPExtended:
		if len(in) <= snp.ReportSize {
			return nil, check.Errorf(check.SNP, check.Decode, "extended report: %d bytes, want the %d-byte report followed by a certificate table",
				len(in), snp.ReportSize)
		}
		return &evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformSNP,
			Evidence: in[:snp.ReportSize], Endorsements: in[snp.ReportSize:]}, nil
	case FormatTDXQuote:
		return &evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformTDX, Evidence: in}, nil
	default:
		return nil, usagef("--format %q: want %s, %s, %s or %s", format, FormatSNPReport, FormatSNPExtended, FormatTDXQuote, FormatCMW)
	}
}
