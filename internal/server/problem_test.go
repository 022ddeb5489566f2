package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/authz"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/receipt/store"
	"github.com/seatrx/seatrx/tlsbind"
)

// Every refusal is written as urn:seatrx:problem:<ProblemCode> with the
// same code member, whichever layer's typed error it carries; an error with
// no code is an internal error whose cause is not sent.
func TestRefuseWritesTheProblemCode(t *testing.T) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	attestFail := func(err error) error { return fmt.Errorf("accept: %w", err) }
	tests := []struct {
		name       string
		err        error
		status     int
		wantStatus int
		wantCode   string
		wantStep   string
		wantDetail bool
	}{
		{"expat error under tlsbind", attestFail(&tlsbind.Error{Step: tlsbind.StepAuthenticator, Err: expat.ErrBadFinished}), 403, 403, "expat.bad_finished", tlsbind.StepAuthenticator, true},
		{"tlsbind's own code", &tlsbind.Error{Step: tlsbind.StepBinding, Code: tlsbind.CodeBindingKey}, 403, 403, "attest.binding_key", tlsbind.StepBinding, true},
		{"evidence check", &tlsbind.Error{Step: tlsbind.StepEvidence, Err: check.Errorf("tdx", check.TCB, "x")}, 403, 403, "tdx.tcb", tlsbind.StepEvidence, true},
		{"receipt error", fmt.Errorf("redeem: %w", receipt.ErrTokenCnf), 403, 403, "receipt.token_cnf", "", true},
		{"server's own refusal keeps its status", &Error{Status: 413, Code: CodeBodyTooLarge, Title: "t"}, 400, 413, "server.body_too_large", "", false},
		{"no code: internal", errors.New("disk on fire"), 403, 500, "server.internal", "", true},
		{"tlsbind without a lower code: internal", &tlsbind.Error{Step: tlsbind.StepEvidence, Err: errors.New("device gone")}, 400, 500, "server.internal", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.refuse(rec, tc.err, tc.status)
			var p api.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.wantStatus || p.Status != tc.wantStatus || p.Code != tc.wantCode || p.Type != "urn:seatrx:problem:"+tc.wantCode || p.Step != tc.wantStep {
				t.Fatalf("got %d %+v, want %d %s step %q", rec.Code, p, tc.wantStatus, tc.wantCode, tc.wantStep)
			}
			if rec.Header().Get("Content-Type") != api.MediaProblem {
				t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
			}
			if tc.wantDetail != (p.Detail != "") {
				t.Fatalf("detail %q", p.Detail)
			}
		})
	}
}

func TestServerCodesAreNamespacedAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range codes {
		pc := (&Error{Code: c}).ProblemCode()
		if seen[pc] || pc != "server."+string(c) {
			t.Fatalf("code %q: %q", c, pc)
		}
		seen[pc] = true
	}
}

// A failure on the server's side is server.internal even when the error
// carries a code of its own (a storage or signing failure is never the
// peer's, and its detail is not the peer's business): the detail is a
// reference that the log line with the cause carries too.
func TestInternalHidesCodedCauses(t *testing.T) {
	var log bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&log, nil))}
	for _, err := range []error{fmt.Errorf("store receipt: %w", store.ErrDuplicate), receipt.ErrMalformed, errors.New("disk")} {
		log.Reset()
		rec := httptest.NewRecorder()
		s.internal(rec, "issue a receipt", err)
		var p api.Problem
		if json.Unmarshal(rec.Body.Bytes(), &p) != nil || rec.Code != 500 || p.Code != "server.internal" {
			t.Fatalf("%v: got %d %+v", err, rec.Code, p)
		}
		ref, ok := strings.CutPrefix(p.Detail, "the cause is in the server's log under reference ")
		if !ok || len(ref) != 16 || strings.Contains(p.Detail, err.Error()) {
			t.Fatalf("%v: detail %q", err, p.Detail)
		}
		if line := log.String(); !strings.Contains(line, "ref="+ref) || !strings.Contains(line, err.Error()) {
			t.Fatalf("%v: the log line %q does not carry the reference %s and the cause", err, line, ref)
		}
	}
}

// A store that is unavailable for now is 503 store.unavailable with
// Retry-After; any other store failure stays 500. Neither sends the cause.
func TestInternalStoreUnavailable(t *testing.T) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	unavailable := &store.BackendError{Op: "put attested receipt", Err: fmt.Errorf("dial: %w", context.DeadlineExceeded)}
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("record: %w", unavailable), 503, "store.unavailable"},
		{&store.BackendError{Op: "x", Err: errors.New("disk I/O error")}, 500, "server.internal"},
		{&store.BackendError{Op: "x", Err: context.Canceled}, 500, "server.internal"},
	} {
		rec := httptest.NewRecorder()
		s.internal(rec, "issue a receipt", tc.err)
		var p api.Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != tc.status || p.Code != tc.code ||
			!strings.Contains(p.Detail, "reference") || strings.Contains(p.Detail, "dial") || strings.Contains(p.Detail, "disk I/O") {
			t.Fatalf("%v: got %d %+v (%v)", tc.err, rec.Code, p, err)
		}
		if ra := rec.Header().Get("Retry-After"); (tc.status == 503) != (ra == "1") {
			t.Errorf("%v: Retry-After %q", tc.err, ra)
		}
		if ct := rec.Header().Get("Content-Type"); ct != api.MediaProblem {
			t.Errorf("%v: Content-Type %q", tc.err, ct)
		}
	}
}

// Every authz code has an HTTP status and a title, and conformance/README.md
// lists it with that status.
func TestAuthzCodesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "conformance", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range authz.Codes() {
		status, ok := authzStatus[c]
		if !ok || authzTitle[c] == "" {
			t.Errorf("%s: no status or title", c)
		}
		row := fmt.Sprintf("| `%s` | %d |", (&authz.Error{Code: c}).ProblemCode(), status)
		if !strings.Contains(string(b), row) {
			t.Errorf("conformance/README.md has no row %q", row)
		}
	}
}

// readAll reads everything whatever the declared length says, and a wrong
// or missing declaration costs only growth.
func TestReadAll(t *testing.T) {
	body := bytes.Repeat([]byte{7}, 3000)
	for _, declared := range []int64{-1, 0, 10, 3000, 5000, 1 << 40} {
		got, err := readAll(bytes.NewReader(body), declared, 4096)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("declared %d: %d bytes, %v", declared, len(got), err)
		}
	}
}

// A full disk is named: 507 store.disk_full, with a reference like internal.
func TestInternalNamesDiskFull(t *testing.T) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rec := httptest.NewRecorder()
	s.internal(rec, "issue a receipt", fmt.Errorf("store receipt: %w", store.ErrDiskFull))
	var p api.Problem
	if json.Unmarshal(rec.Body.Bytes(), &p) != nil || rec.Code != 507 || p.Code != "store.disk_full" || !strings.Contains(p.Detail, "reference ") {
		t.Fatalf("got %d %+v", rec.Code, p)
	}
}
