package evidencecli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/evidence"
)

// TestVerifyRealV5Quote: the CLI detects and verifies the recorded TDX 1.5
// quote (version 5) offline, says it is a warning because nothing but the
// quote was checked, and prints the TD 1.5 fields.
func TestVerifyRealV5Quote(t *testing.T) {
	q := filepath.Join("..", "..", "evidence", "tdx", "testdata", "v5", "quote_v5_sample.dat")
	if got, why := detectFormat(read(t, q)); got != FormatTDXQuote || !strings.Contains(why, "v5") {
		t.Fatalf("detected %q (%s)", got, why)
	}
	code, out, errOut := run("verify", "--in", q, "--now", "2026-06-01T00:00:00Z")
	if code != 0 || !strings.Contains(errOut, "TDX quote v5 header") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got appraisalJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Status != evidence.StatusWarning || strings.Join(got.NotEvaluated, ",") != "tcb_status,revocation" ||
		got.TDX == nil || got.TDX.QuoteVersion != 5 || got.TDX.BodyType != 3 || got.TDX.FMSPC != "90c06f000000" ||
		got.TDX.TEETCBSVN2 != "0d010400000000000000000000000000" || got.TDX.MRServiceTD != strings.Repeat("00", 48) {
		t.Fatalf("appraisal %+v / %+v", got, got.TDX)
	}
	// The PCK is not valid before 2026-01-27.
	if code, _, errOut := run("verify", "--in", q, "--now", "2026-01-01T00:00:00Z"); code != 1 || !strings.Contains(errOut, "FAIL tdx.time: ") {
		t.Fatalf("before the PCK's validity: exit %d, %q", code, errOut)
	}
}
