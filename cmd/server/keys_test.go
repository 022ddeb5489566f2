package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/internal/keystore"
)

func TestKeysCommands(t *testing.T) {
	data := t.TempDir()
	dir := keystore.Open(filepath.Join(data, "keys"))
	for _, r := range keystore.Roles {
		if _, err := dir.Create(r, time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := dir.Load(keystore.RoleIssuer)
	var out, errb bytes.Buffer
	run1 := func(args ...string) int {
		out.Reset()
		errb.Reset()
		return cli.Run(tree(), append([]string{"keys"}, args...), &out, &errb)
	}
	if code := run1("rotate", "--data", data, "--reason", "yearly"); code != 0 || !strings.Contains(out.String(), first.CurrentEntry.Kid+" retired") {
		t.Fatalf("rotate: %d %s %s", code, out.String(), errb.String())
	}
	if code := run1("show", "--data", data); code != 0 || !strings.Contains(out.String(), "retired kid "+first.CurrentEntry.Kid) ||
		!strings.Contains(out.String(), "(yearly)") || strings.Count(out.String(), "current kid") != 3 || !strings.Contains(out.String(), "spki-sha256 ") {
		t.Fatalf("show: %d\n%s%s", code, out.String(), errb.String())
	}
	if code := run1("show", "--data", data, "--role", "issuer", "--json"); code != 0 {
		t.Fatalf("show --json: %d %s", code, errb.String())
	}
	var ms []keystore.Manifest
	if err := json.Unmarshal(out.Bytes(), &ms); err != nil || len(ms) != 1 || len(ms[0].Keys) != 2 {
		t.Fatalf("show --json: %v %s", err, out.String())
	}
	for _, f := range keystore.Formats {
		if code := run1("export", "--data", data, "--format", f); code != 0 || out.Len() == 0 {
			t.Fatalf("export %s: %d %s", f, code, errb.String())
		}
	}
	if code := run1("export", "--data", data, "--role", "issuer", "--format", "jwk"); code != 0 || strings.Count(out.String(), `"kid"`) != 2 {
		t.Fatalf("export issuer jwk: %s", out.String())
	}
	outFile := filepath.Join(t.TempDir(), "keys.pem")
	if code := run1("export", "--data", data, "--out", outFile); code != 0 {
		t.Fatalf("export --out: %s", errb.String())
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "missing command"},
		{[]string{"list"}, 2, "unknown command"},
		{[]string{"show"}, 2, "--data"},
		{[]string{"export", "--data", data, "--format", "der"}, 2, "--format"},
		{[]string{"show", "--data", data, "--role", "root"}, 2, "--role"},
		{[]string{"show", "--data", data, "extra"}, 2, "unexpected argument"},
		{[]string{"rotate", "--data", t.TempDir()}, 1, "manifest.json"},
	} {
		if code := run1(tc.args...); code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, %q", tc.args, code, errb.String())
		}
	}
}
