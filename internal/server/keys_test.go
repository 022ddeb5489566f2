package server_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/keystore"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/verify"
)

// issueOne attests on a new connection and returns a receipt bundle.
func (e *env) issueOne(t *testing.T) []byte {
	t.Helper()
	ctx := context.Background()
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, err := c.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	rr, err := c.RequestReceipt(ctx, cbor.RawMessage{0xa0}, "")
	if err != nil {
		t.Fatal(err)
	}
	return rr.Bundle
}

func (e *env) keysDoc(t *testing.T) *receipt.Keys {
	t.Helper()
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	k, _, err := c.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The test that lasts: a receipt issued with key 1, a rotation, a receipt
// with key 2, a restart; both verify offline in audit mode with the keys
// document the restarted server publishes, and a receipt stamped after key
// 1's retirement but signed with key 1 is refused.
func TestKeysLastAcrossRotationAndRestart(t *testing.T) {
	data := t.TempDir()
	mod := func(c *server.Config) { c.DataDir = data; c.KeyReloadInterval = -1 }
	e := start(t, mod)
	b1 := e.issueOne(t)

	dir := keystore.Open(filepath.Join(data, "keys"))
	rot, err := dir.Rotate(keystore.RoleIssuer, e.clock.Now(), 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := e.srv.ReloadKeys(); err != nil || !changed {
		t.Fatalf("reload: %v %v", changed, err)
	}
	e.clock.Add(2 * time.Second)
	b2 := e.issueOne(t)
	if err := e.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	e2 := start(t, mod)
	keys := e2.keysDoc(t)
	iss, err := keys.IssuerKeys()
	if err != nil || len(iss) != 2 {
		t.Fatalf("published issuer keys: %v %d", err, len(iss))
	}
	for i, b := range [][]byte{b1, b2} {
		rep, err := verify.Bundle(b, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: e2.pki})
		if err != nil || !rep.OK {
			t.Fatalf("receipt %d after rotation and restart: %v", i+1, err)
		}
		wantKid := rot.Retired
		if i == 1 {
			wantKid = rot.Started
		}
		if rep.Keys[0].Role != "issuer" || rep.Keys[0].Kid != wantKid {
			t.Fatalf("receipt %d relied on %+v, want issuer kid %s", i+1, rep.Keys[0], wantKid)
		}
	}

	// Key 1, still on disk, signs a receipt stamped after its retirement.
	k1, err := keyfile.LoadKey(filepath.Join(dir.RolePath(keystore.RoleIssuer), rot.Retired+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := receipt.NewSigner(k1, keys.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	appr, err := dir.Load(keystore.RoleAppraiser)
	if err != nil {
		t.Fatal(err)
	}
	approver, _ := receipt.NewSigner(appr.Current, receipt.AppraiserID)
	b, err := receipt.UnmarshalBundle(b2)
	if err != nil {
		t.Fatal(err)
	}
	a, err := receipt.ParseAction(b.Action)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := receipt.ParseReceipt(b.Receipt)
	forged, _, err := receipt.Issue(signer, receipt.IssueInput{Action: *a, PolicyCBOR: b.Policy, EAR: r.AttestationToken.Value,
		Audience: r.ExecutionToken.Audience, Approvers: []*receipt.Signer{approver}, Now: rot.RetiredAt.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	fb, _ := forged.MarshalCBOR()
	_, err = verify.Bundle(fb, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: e2.pki})
	if receipt.ProblemCode(err) != "receipt.outside_key_validity" {
		t.Fatalf("retired key after its window: %v", err)
	}
}

// A server whose store holds receipts refuses to start without its keys or
// with another key directory, naming the file; --dev creates what is
// missing.
func TestServerRefusesToMintANewIdentity(t *testing.T) {
	data := t.TempDir()
	e := start(t, func(c *server.Config) { c.DataDir = data })
	e.issueOne(t)
	if err := e.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, _ := serverCert(t, t.TempDir())
	prod := server.Config{Addr: "127.0.0.1:0", DataDir: data, TLSCertFile: certFile, TLSKeyFile: keyFile, Issuer: server.DevIssuer,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	keys := filepath.Join(data, "keys")

	// Another key directory: its issuer key signed none of the receipts.
	other := t.TempDir() + "/keys"
	for _, role := range keystore.Roles {
		if _, err := keystore.Open(other).Create(role, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	cfg := prod
	cfg.KeyDir = other
	if _, err := server.New(cfg); err == nil || !strings.Contains(err.Error(), filepath.Join(other, "issuer", "manifest.json")) || !strings.Contains(err.Error(), "does not list") {
		t.Fatalf("another identity: %v", err)
	}

	// The issuer key missing.
	if err := os.Rename(filepath.Join(keys, "issuer"), filepath.Join(data, "issuer.saved")); err != nil {
		t.Fatal(err)
	}
	if _, err := server.New(prod); err == nil || !strings.Contains(err.Error(), filepath.Join(keys, "issuer", "manifest.json")) || !strings.Contains(err.Error(), "refusing to mint") {
		t.Fatalf("missing issuer key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(keys, "issuer")); err == nil {
		t.Fatal("the refused start created an issuer key")
	}
	// Restored, it starts.
	if err := os.Rename(filepath.Join(data, "issuer.saved"), filepath.Join(keys, "issuer")); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(prod)
	if err != nil {
		t.Fatalf("restored keys: %v", err)
	}
	srv.Shutdown(context.Background())
	// --dev may still create everything.
	os.RemoveAll(keys)
	start(t, func(c *server.Config) { c.DataDir = data })
}

// A rotation by another process is picked up by polling: /v1/keys then
// lists both issuer keys and new receipts use the new one.
func TestKeysReloadByPolling(t *testing.T) {
	data := t.TempDir()
	e := start(t, func(c *server.Config) { c.DataDir = data; c.KeyReloadInterval = 20 * time.Millisecond })
	rot, err := keystore.Open(filepath.Join(data, "keys")).Rotate(keystore.RoleIssuer, e.clock.Now(), time.Minute, "test")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		iss, _ := e.keysDoc(t).IssuerKeys()
		if len(iss) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rotation not picked up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := receipt.UnmarshalBundle(e.issueOne(t))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := receipt.ParseReceipt(b.Receipt)
	if kid, _ := hex.DecodeString(rot.Started); !bytes.Equal(r.KeyID, kid) {
		t.Fatalf("new receipt signed by %x, want %s", r.KeyID, rot.Started)
	}
}
