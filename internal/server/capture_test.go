package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/capture"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/tlsbind"
)

type dumpIndex struct {
	dir   string
	Role  string `json:"role"`
	Items []struct {
		What, Dir, Code, Profile, Note, File, Hex string
		Files                                     []string
	} `json:"items"`
}

// readDumps returns the index of every session under a dump's run directory.
func readDumps(t *testing.T, d *capture.Dump) []dumpIndex {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(d.Dir(), "*", "index.json"))
	var out []dumpIndex
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		idx := dumpIndex{dir: filepath.Dir(p)}
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		out = append(out, idx)
	}
	return out
}

// With --keylog and --dump on both sides, the two key logs hold the same
// connections' secrets, and the two dumps show one exchange from both
// ends: the binder the client's evidence carries is the one the server
// expected; a refused attestation's dump shows the REPORTDATA the evidence
// claimed next to the binder expected, and the code.
func TestKeyLogAndDump(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) (*capture.Dump, *bytes.Buffer) {
		var warn bytes.Buffer
		d, err := capture.OpenDump(filepath.Join(dir, name), &warn)
		if err != nil {
			t.Fatal(err)
		}
		return d, &warn
	}
	srvDump, _ := open("server-dump")
	cliDump, _ := open("client-dump")
	srvLog, err := capture.OpenKeyLog(filepath.Join(dir, "server.keys"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cliLog, err := capture.OpenKeyLog(filepath.Join(dir, "client.keys"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, func(c *server.Config) { c.Dump, c.KeyLog = srvDump, srvLog })
	dial := func(p *tlsbind.Prover) *client.Conn {
		checker, err := client.NewChecker(e.pki, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Dial(context.Background(), client.Config{Server: "https://" + e.addr, Roots: e.roots, Prover: p, Checker: checker,
			KeyLog: cliLog, Dump: cliDump})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ctx := context.Background()
	c := dial(e.snp(sim.SNPGuestConfig{}))
	if _, err := c.AttestServer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(k.Public())
	h := sha256.Sum256(spki)
	bad := dial(&tlsbind.Prover{Attester: remapAttester{e.snp(sim.SNPGuestConfig{}).Attester, func(rd [64]byte) [64]byte { copy(rd[32:], h[:]); return rd }}})
	if _, err := bad.Attest(ctx); err == nil {
		t.Fatal("evidence for another key accepted")
	}
	srvLog.Close()
	cliLog.Close()

	// Key logs: the same two connections, seen from both ends.
	a, _ := os.ReadFile(filepath.Join(dir, "server.keys"))
	b, _ := os.ReadFile(filepath.Join(dir, "client.keys"))
	if len(a) == 0 || strings.Count(string(a), "\n") != 8 || !sameLines(string(a), string(b)) {
		t.Fatalf("key logs differ or are not 4 lines per connection:\n%s\n--\n%s", a, b)
	}

	srv, cli := readDumps(t, srvDump), readDumps(t, cliDump)
	if len(srv) != 2 || len(cli) != 2 {
		t.Fatalf("%d server and %d client sessions, want 2 each", len(srv), len(cli))
	}
	reportData := func(idx dumpIndex, note string) string {
		for _, it := range idx.Items {
			if it.What == "binder" && strings.Contains(it.Note, note) {
				for _, f := range it.Files {
					if strings.HasSuffix(f, "-binder-report-data.hex") {
						return f
					}
				}
			}
		}
		return ""
	}
	hexOf := func(idx dumpIndex, name string) string {
		t.Helper()
		out, err := os.ReadFile(filepath.Join(idx.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	var okSrv, badSrv, okCli dumpIndex
	for _, idx := range srv {
		if kinds(idx) == "exporter*4 request/received binder authenticator/sent request/sent authenticator/received binder result/sent" {
			okSrv = idx
		} else {
			badSrv = idx
		}
	}
	for _, idx := range cli {
		if strings.Contains(kinds(idx), "result/received") {
			okCli = idx
		}
	}
	if okSrv.Role != "server" || okCli.Role != "client" {
		t.Fatalf("sessions:\nserver %v\nclient %v", kindsAll(srv), kindsAll(cli))
	}
	// The client's evidence carries the binder the server expected.
	cf, sf := reportData(okCli, "derived by this attester"), reportData(okSrv, "expected by this server")
	if cf == "" || sf == "" || hexOf(okCli, cf) != hexOf(okSrv, sf) {
		t.Fatalf("client binder %s and server binder %s differ", cf, sf)
	}
	// The refusal: REPORTDATA claimed, binder expected, code.
	want := "exporter*4 request/sent authenticator/received report_data/received binder error/sent"
	if kinds(badSrv) != want {
		t.Fatalf("refused session: %s, want %s", kinds(badSrv), want)
	}
	if last := badSrv.Items[len(badSrv.Items)-1]; last.Code != "attest.binding_key" {
		t.Fatalf("refusal code %q", last.Code)
	}
	claimed, expected := badSrv.Items[6].Hex, hexOf(badSrv, reportData(badSrv, "expected by this relying party"))
	if !strings.HasSuffix(claimed, hex.EncodeToString(h[:])) || strings.ReplaceAll(expected, "\n", "") == claimed || claimed[:64] != strings.ReplaceAll(expected, "\n", "")[:64] {
		t.Fatalf("claimed REPORTDATA %s (another key's aik_pub_hash %x), expected %s", claimed, h, expected)
	}
}

// kinds summarises a session: what/dir per item, exporters counted.
func kinds(idx dumpIndex) string {
	var out []string
	n := 0
	for _, it := range idx.Items {
		switch {
		case it.What == "exporter":
			n++
			continue
		case it.Dir != "":
			out = append(out, it.What+"/"+it.Dir)
		default:
			out = append(out, it.What)
		}
	}
	return strings.Join(append([]string{"exporter*" + string(rune('0'+n))}, out...), " ")
}

func kindsAll(ids []dumpIndex) []string {
	var out []string
	for _, i := range ids {
		out = append(out, kinds(i))
	}
	return out
}

func sameLines(a, b string) bool {
	la, lb := strings.Split(strings.TrimSpace(a), "\n"), strings.Split(strings.TrimSpace(b), "\n")
	if len(la) != len(lb) {
		return false
	}
	seen := map[string]int{}
	for _, l := range la {
		seen[l]++
	}
	for _, l := range lb {
		seen[l]--
	}
	for _, v := range seen {
		if v != 0 {
			return false
		}
	}
	return true
}
