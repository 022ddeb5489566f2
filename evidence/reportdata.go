package evidence

import (
	"fmt"

	"github.com/seatrx/seatrx/evidence/snp"
)

// Offsets of the 64-byte caller data: SEV-SNP ATTESTATION_REPORT.REPORT_DATA
// (AMD SEV-SNP ABI, table "ATTESTATION_REPORT Structure", offset 0x50) and TDX
// quote v4 TD report body REPORTDATA (48-byte header + body offset 0x208).
const (
	snpReportDataOffset = 0x50
	tdxReportDataOffset = 0x30 + 0x208
)

// UnverifiedReportData returns the REPORTDATA field of decoded evidence
// WITHOUT verifying anything. It exists only to explain a failed binding check
// (which part of the binder differs); never base a decision on it.
func (d *Decoded) UnverifiedReportData() ([64]byte, error) {
	var rd [64]byte
	switch {
	case d.Platform == PlatformSNP && len(d.Report) >= snp.ReportSize:
		copy(rd[:], d.Report[snpReportDataOffset:])
	case d.Platform == PlatformTDX && len(d.Quote) >= tdxReportDataOffset+64:
		copy(rd[:], d.Quote[tdxReportDataOffset:])
	default:
		return rd, fmt.Errorf("evidence: no REPORTDATA in %s %s evidence", d.Platform, d.Kind)
	}
	return rd, nil
}
