package peersuite

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// ReportSchema identifies the JSON report format.
const ReportSchema = "seatrx-conformance-report/v1"

// Verdicts of one scenario or case.
const (
	Pass         = "PASS"
	Fail         = "FAIL"
	Skip         = "SKIP"         // does not apply to the profile (said why); not a failure
	Inconclusive = "INCONCLUSIVE" // the peer never reached the step tested; counts as not shown
)

// Report is the outcome of one Serve or Run.
type Report struct {
	Schema    string   `json:"schema"`
	Command   string   `json:"command"` // "serve" or "run"
	Role      string   `json:"role"`    // the role seatrx played: "relying-party" or "attester"
	Transport string   `json:"transport"`
	Profile   string   `json:"profile"`
	Peer      string   `json:"peer,omitempty"` // the target dialled, or the address listened on
	Started   string   `json:"started"`
	Finished  string   `json:"finished"`
	Results   []Result `json:"results"`
	Passed    int      `json:"passed"`
	Failed    int      `json:"failed"`
	Skipped   int      `json:"skipped"`
	Unshown   int      `json:"inconclusive"`
}

// Result is one scenario (Serve) or case (Run) on one connection.
type Result struct {
	Name     string `json:"name"`
	Verdict  string `json:"verdict"`
	Rule     string `json:"rule"`     // the rule tested, with its source
	Ref      string `json:"ref"`      // the rule's source, short (RFC 9261 §5.2.2)
	Expected string `json:"expected"` // what a conforming peer does
	Observed string `json:"observed"` // what this peer did
	// Code is the wire code of a refusal, when there was one (the peer's,
	// for Run; the one seatrx sent, for Serve).
	Code      string   `json:"code,omitempty"`
	WantCodes []string `json:"want_codes,omitempty"` // Run: the codes seatrx's relying party gives
	Detail    string   `json:"detail,omitempty"`
	Dump      string   `json:"dump,omitempty"` // the connection's --dump directory
}

func newReport(command, role string, tr Transport, profile, peer string) *Report {
	return &Report{Schema: ReportSchema, Command: command, Role: role, Transport: string(tr), Profile: profile, Peer: peer,
		Started: time.Now().UTC().Format(time.RFC3339), Results: []Result{}}
}

// add records r and prints its line to w (nil: silent).
func (rep *Report) add(r Result, w io.Writer) {
	rep.Results = append(rep.Results, r)
	switch r.Verdict {
	case Pass:
		rep.Passed++
	case Fail:
		rep.Failed++
	case Skip:
		rep.Skipped++
	default:
		rep.Unshown++
	}
	if w != nil {
		fmt.Fprintln(w, r.Line())
	}
}

func (rep *Report) finish() { rep.Finished = time.Now().UTC().Format(time.RFC3339) }

// OK reports whether everything tested passed: no failure and nothing
// inconclusive (skipped cases do not apply to the profile).
func (rep *Report) OK() bool { return rep.Failed == 0 && rep.Unshown == 0 && rep.Passed > 0 }

// Line is the result's one-line form: verdict, name, rule source, what
// happened.
func (r Result) Line() string {
	obs := r.Observed
	if r.Detail != "" && r.Verdict != Pass {
		obs += ": " + r.Detail
	}
	return fmt.Sprintf("%-4s %-32s %-37s %s", short(r.Verdict), r.Name, "["+r.Ref+"]", obs)
}

func short(v string) string {
	if v == Inconclusive {
		return "INC"
	}
	return v
}

// Summary is the closing line.
func (rep *Report) Summary() string {
	s := fmt.Sprintf("%d passed, %d failed", rep.Passed, rep.Failed)
	if rep.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped (each line says why)", rep.Skipped)
	}
	if rep.Unshown > 0 {
		s += fmt.Sprintf(", %d inconclusive (the peer never reached the step tested)", rep.Unshown)
	}
	return s
}

// WriteJSON writes the report, indented.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}

// codeList joins codes for messages.
func codeList(cs []string) string { return strings.Join(cs, " or ") }

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
