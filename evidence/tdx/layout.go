package tdx

import (
	"encoding/binary"

	"github.com/seatrx/seatrx/evidence/check"
)

// MaxQuoteSize caps the quote bytes Verify accepts. Real v4 and v5 quotes
// with an embedded PEM PCK chain are about 5 KiB; 64 KiB leaves room for long
// chains and fits in one CMW.
const MaxQuoteSize = 64 << 10

// Byte layout of Intel TDX quotes (Intel TDX DCAP Quoting Library API,
// "Quote Format"); offsets are from the start of the quote. Version 4 puts
// the 584-byte TD 1.0 report body right after the header; version 5 puts a
// body descriptor (u16 type, u32 size) there, followed by a TD 1.0 body (type
// 2, 584 bytes) or a TD 1.5 body (type 3, 648 bytes). Both end the signed
// message with the body, then carry u32 signed_data_size and the signed data.
const (
	headerSize       = 0x30
	bodyStart        = 0x30                 // v4
	bodySize         = 0x248                // TD 1.0 report body (584 bytes)
	bodyEnd          = bodyStart + bodySize // 0x278, v4
	sigDataLenOff    = bodyEnd              // v4: u32 signed data size
	sigDataStart     = sigDataLenOff + 4    // v4: 0x27C
	bodyDescSize     = 6                    // v5: u16 body type, u32 body size
	body15Size       = 0x288                // TD 1.5 report body (648 bytes)
	quoteSigSize     = 64                   // raw r||s, P-256
	attKeySize       = 64                   // raw X||Y, P-256
	certDataHdrSize  = 6                    // u16 type, u32 size
	qeReportSize     = 0x180
	qeReportSigSize  = 64
	qeAuthLenSize    = 2
	attKeyTypeECDSA  = 2
	teeTypeTDX       = 0x81
	certTypeQEReport = 6
	certTypePCKChain = 5

	// Quote versions and v5 body types.
	QuoteV4     = 4
	QuoteV5     = 5
	BodyTDX10   = 2 // TD 1.0 report body (v4 layout)
	BodyTDX15   = 3 // TD 1.5 report body: adds TEE_TCB_SVN_2 and MRSERVICETD
	bodyTypeSGX = 1

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
	bTeeTcbSvn2    = 0x248 // TD 1.5 only
	bMrServiceTD   = 0x258 // TD 1.5 only
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

// quoteView is a structurally validated v4 or v5 quote: every slice aliases
// raw and every length field has been checked against the bytes actually
// present.
type quoteView struct {
	raw         []byte
	version     uint16
	bodyType    uint16 // BodyTDX10 (every v4 quote) or BodyTDX15
	signedMsg   []byte // what the attestation key signs: everything before signed_data_size
	body        []byte // 584 or 648 bytes
	signature   []byte // 64, raw r||s
	attKey      []byte // 64, raw X||Y
	qeReport    []byte // 384
	qeReportSig []byte // 64
	qeAuthData  []byte
	pckChain    []byte // PEM
	end         int    // offset just past the signed data: raw[:end] is the canonical quote
}

func decodeErr(format string, args ...any) error {
	return check.Errorf(platform, check.Decode, format, args...)
}

// parseQuote checks every size and type field of a v4 or v5 quote before
// anything slices it, so that a malformed quote is reported with the field
// that is wrong. Bytes after the signed data are refused unless all zero
// (padding some quote providers add): nothing signs them, so anything else
// there would let one attestation travel in many encodings.
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
	v := &quoteView{raw: raw, version: binary.LittleEndian.Uint16(raw[0:2])}
	if v.version != QuoteV4 && v.version != QuoteV5 {
		return nil, decodeErr("header.version: %d, only quote versions 4 and 5 are supported", v.version)
	}
	if t := binary.LittleEndian.Uint16(raw[2:4]); t != attKeyTypeECDSA {
		return nil, decodeErr("header.attestation_key_type: %d, want 2 (ECDSA-256-with-P-256)", t)
	}
	if t := binary.LittleEndian.Uint32(raw[4:8]); t != teeTypeTDX {
		return nil, decodeErr("header.tee_type: 0x%x, want 0x81 (TDX)", t)
	}
	start := headerSize
	v.bodyType = BodyTDX10
	size := bodySize
	if v.version == QuoteV5 {
		if len(raw) < headerSize+bodyDescSize {
			return nil, decodeErr("td_quote_body_descriptor: quote is %d bytes, the descriptor needs %d", len(raw), headerSize+bodyDescSize)
		}
		v.bodyType = binary.LittleEndian.Uint16(raw[headerSize:])
		n := binary.LittleEndian.Uint32(raw[headerSize+2:])
		switch v.bodyType {
		case BodyTDX10:
			size = bodySize
		case BodyTDX15:
			size = body15Size
		case bodyTypeSGX:
			return nil, decodeErr("td_quote_body_descriptor.type: 1 (SGX enclave report), want 2 (TD 1.0) or 3 (TD 1.5)")
		default:
			return nil, decodeErr("td_quote_body_descriptor.type: %d, want 2 (TD 1.0) or 3 (TD 1.5)", v.bodyType)
		}
		if uint64(n) != uint64(size) {
			return nil, decodeErr("td_quote_body_descriptor.size: %d, body type %d is %d bytes", n, v.bodyType, size)
		}
		start += bodyDescSize
	}
	lenOff := start + size
	sdStart := lenOff + 4
	if len(raw) < sdStart {
		return nil, decodeErr("td_quote_body: quote is %d bytes, body and signed_data_size need %d", len(raw), sdStart)
	}
	v.signedMsg = raw[:lenOff]
	v.body = raw[start:lenOff]
	sds := uint64(binary.LittleEndian.Uint32(raw[lenOff:sdStart]))
	avail := uint64(len(raw) - sdStart)
	if sds > avail {
		return nil, decodeErr("signed_data_size: %d, only %d bytes follow", sds, avail)
	}
	if min := uint64(quoteSigSize + attKeySize + certDataHdrSize); sds < min {
		return nil, decodeErr("signed_data_size: %d, want at least %d", sds, min)
	}
	v.end = sdStart + int(sds)
	for i, b := range raw[v.end:] {
		if b != 0 {
			return nil, decodeErr("trailing_bytes: %d bytes follow the signed data and byte %d of them (offset %d) is 0x%02x; only zero padding may follow",
				len(raw)-v.end, i, v.end+i, b)
		}
	}
	sd := raw[sdStart:v.end]
	v.signature = sd[:quoteSigSize]
	v.attKey = sd[quoteSigSize : quoteSigSize+attKeySize]
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

// bodyOffset returns where the TD report body starts in a quote of version
// ver (the v5 body descriptor sits before it).
func bodyOffset(ver uint16) int {
	if ver == QuoteV5 {
		return headerSize + bodyDescSize
	}
	return bodyStart
}

// CanonicalQuote returns the canonical form of a TDX quote, the bytes the
// evidence digest covers: the quote up to the end of its signed data, without
// the zero padding a quote provider may append. The quote is parsed as Verify
// parses it (tdx.decode errors, including non-zero trailing bytes); nothing is
// verified. The result aliases quote.
func CanonicalQuote(quote []byte) ([]byte, error) {
	v, err := parseQuote(quote)
	if err != nil {
		return nil, err
	}
	return quote[:v.end:v.end], nil
}

// UnverifiedReportData returns the REPORTDATA of a TDX quote (v4 or v5)
// WITHOUT verifying anything, to explain a failed binding check. Never base a
// trust decision on it.
func UnverifiedReportData(quote []byte) (rd [64]byte, ok bool) {
	if len(quote) < 2 {
		return rd, false
	}
	off := bodyOffset(binary.LittleEndian.Uint16(quote)) + bReportData
	if len(quote) < off+64 {
		return rd, false
	}
	copy(rd[:], quote[off:])
	return rd, true
}
