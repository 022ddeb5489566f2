package evidence

import "fmt"

// UnverifiedReportData returns the REPORTDATA field of decoded evidence
// WITHOUT verifying anything. It exists only to explain a failed binding check
// (which part of the binder differs); never base a decision on it.
func (d *Decoded) UnverifiedReportData() ([64]byte, error) {
	if k, ok := kindOf(d.Platform); ok && d.Kind == KindEvidence {
		if rd, ok := k.reportData(d.Evidence); ok {
			return rd, nil
		}
	}
	return [64]byte{}, fmt.Errorf("evidence: no REPORTDATA in %s %s evidence", d.Platform, d.Kind)
}
