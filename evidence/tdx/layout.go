package tdx

import (
	"encoding/binary"

	"github.com/seatrx/seatrx/evidence/check"
)

// MaxQuoteSize caps the quote bytes Verify accepts. Real v4 quotes with an
// embedded PEM PCK chain are about 5 KiB; 64 KiB leaves room for long chains
// and fits in one CMW.
const MaxQuoteSize = 64 << 10

// Byte layout of an Intel TDX quote v4 (Intel TDX DCAP Quoting Library API,
// "Quote Format"); offsets are from the start of the quote.
const (
	headerSize       = 0x30
	bodyStart        = 0x30
	bodySize         = 0x248
	bodyEnd          = bodyStart + bodySize // 0x278
	sigDataLenOff    = bodyEnd              // u32 signed data size
	sigDataStart     = sigDataLenOff + 4    // 0x27C
	quoteSigSize     = 64                   // raw r||s, P-256
	attKeySize       = 64                   // raw X||Y, P-256
	certDataHdrSize  = 6                    // u16 type, u32 size
	qeReportSize     = 0x180
	qeReportSigSize  = 64
	qeAuthLenSize    = 2
	quoteVersion     = 4
	attKeyTypeECDSA  = 2
	teeTypeTDX       = 0x81
	certTypeQEReport = 6
	certTypePCKChain = 5

	// Offsets inside the TD quote body.
	bTeeTcbSvn     = 0x00
	bMrSeam        = 0x10
	bMrSignerSeam  = 0x40
	bSeamAttrs     = 0x70
	bTdAttrs       = 0x78
	bXfam          = 0x80
	bMrTd          = 0x88
	bMrConfigID    = 0xB8
	bMrOwner       = 0xE8
	bMrOwnerConfig = 0x118
	bRtmr0         = 0x148
	bReportData    = 0x208
	measSize       = 48

	// Offsets inside the 384-byte SGX enclave (QE) report.
	qCPUSvn     = 0x00
	qMiscSelect = 0x10
	qAttributes = 0x30
	qMrEnclave  = 0x40
	qMrSigner   = 0x80
	qIsvProdID  = 0x100
	qIsvSvn     = 0x102
	qReportData = 0x140
)

// quoteView is a structurally validated v4 quote: every slice aliases raw and
// every length field has been checked against the bytes actually present.
type quoteView struct {
	raw         []byte
	signedMsg   []byte // header || body: what the attestation key signs
	body        []byte
	signature   []byte // 64, raw r||s
	attKey      []byte // 64, raw X||Y
	qeReport    []byte // 384
	qeReportSig []byte // 64
	qeAuthData  []byte
	pckChain    []byte // PEM
	trailing    int    // bytes after the signed data (real quotes may carry padding)
}

func decodeErr(format string, args ...any) error {
	return check.Errorf(platform, check.Decode, format, args...)
}

// parseQuote checks every size and type field of a v4 quote before anything
// slices it, so that the library parser that runs afterwards cannot panic, and
// so that a malformed quote is reported with the field that is wrong.
func parseQuote(raw []byte) (*quoteView, error) {
	if len(raw) == 0 {
		return nil, decodeErr("quote: empty")
	}
	if len(raw) > MaxQuoteSize {
		return nil, decodeErr("quote: %d bytes exceeds the %d-byte limit", len(raw), MaxQuoteSize)
	}
	if len(raw) < headerSize {
		return nil, decodeErr("header: %d bytes, want at least %d", len(raw), headerSize)
	}
	if v := binary.LittleEndian.Uint16(raw[0:2]); v != quoteVersion {
		return nil, decodeErr("header.version: %d, only quote version 4 is supported", v)
	}
	if t := binary.LittleEndian.Uint16(raw[2:4]); t != attKeyTypeECDSA {
		return nil, decodeErr("header.attestation_key_type: %d, want 2 (ECDSA-256-with-P-256)", t)
	}
	if t := binary.LittleEndian.Uint32(raw[4:8]); t != teeTypeTDX {
		return nil, decodeErr("header.tee_type: 0x%x, want 0x81 (TDX)", t)
	}
	if len(raw) < sigDataStart {
		return nil, decodeErr("td_quote_body: quote is %d bytes, body and signed_data_size need %d", len(raw), sigDataStart)
	}
	sds := uint64(binary.LittleEndian.Uint32(raw[sigDataLenOff:sigDataStart]))
	avail := uint64(len(raw) - sigDataStart)
	if sds > avail {
		return nil, decodeErr("signed_data_size: %d, only %d bytes follow", sds, avail)
	}
	min := uint64(quoteSigSize + attKeySize + certDataHdrSize)
	if sds < min {
		return nil, decodeErr("signed_data_size: %d, want at least %d", sds, min)
	}
	sd := raw[sigDataStart : sigDataStart+int(sds)]
	v := &quoteView{
		raw:       raw,
		signedMsg: raw[:bodyEnd],
		body:      raw[bodyStart:bodyEnd],
		signature: sd[:quoteSigSize],
		attKey:    sd[quoteSigSize : quoteSigSize+attKeySize],
		trailing:  len(raw) - sigDataStart - int(sds),
	}
	cd := sd[quoteSigSize+attKeySize:]
	if t := binary.LittleEndian.Uint16(cd[0:2]); t != certTypeQEReport {
		return nil, decodeErr("certification_data.type: %d, want 6 (QE report certification data)", t)
	}
	cdSize := uint64(binary.LittleEndian.Uint32(cd[2:6]))
	cd = cd[certDataHdrSize:]
	if cdSize != uint64(len(cd)) {
		return nil, decodeErr("certification_data.size: %d, signed data holds %d", cdSize, len(cd))
	}
	if len(cd) < qeReportSize+qeReportSigSize+qeAuthLenSize {
		return nil, decodeErr("qe_report_certification_data: truncated, %d bytes", len(cd))
	}
	v.qeReport = cd[:qeReportSize]
	v.qeReportSig = cd[qeReportSize : qeReportSize+qeReportSigSize]
	rest := cd[qeReportSize+qeReportSigSize:]
	authLen := int(binary.LittleEndian.Uint16(rest[0:2]))
	rest = rest[qeAuthLenSize:]
	if authLen > len(rest) {
		return nil, decodeErr("qe_auth_data.size: %d, only %d bytes follow", authLen, len(rest))
	}
	v.qeAuthData = rest[:authLen]
	rest = rest[authLen:]
	if len(rest) < certDataHdrSize {
		return nil, decodeErr("pck_cert_chain: truncated header, %d bytes", len(rest))
	}
	if t := binary.LittleEndian.Uint16(rest[0:2]); t != certTypePCKChain {
		return nil, decodeErr("pck_cert_chain.type: %d, want 5 (PCK certificate chain)", t)
	}
	chainSize := uint64(binary.LittleEndian.Uint32(rest[2:6]))
	rest = rest[certDataHdrSize:]
	if chainSize != uint64(len(rest)) {
		return nil, decodeErr("pck_cert_chain.size: %d, %d bytes present", chainSize, len(rest))
	}
	if chainSize == 0 {
		return nil, decodeErr("pck_cert_chain: empty")
	}
	v.pckChain = rest
	return v, nil
}

func (v *quoteView) field(off, n int) []byte { return v.body[off : off+n] }

// reportData returns the TD's 64-byte REPORTDATA.
func (v *quoteView) reportData() []byte { return v.field(bReportData, 64) }

// UnverifiedReportData returns the REPORTDATA of a TDX quote WITHOUT
// verifying anything, to explain a failed binding check. Never base a trust
// decision on it.
func UnverifiedReportData(quote []byte) (rd [64]byte, ok bool) {
	const off = bodyStart + bReportData
	if len(quote) < off+64 {
		return rd, false
	}
	copy(rd[:], quote[off:])
	return rd, true
}
