package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
)

// serverFlags are the flags of every command that talks to a server
// without attesting (approvers, observers).
type serverFlags struct {
	server, dev, ca string
	timeout         time.Duration
}

func (f *serverFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "", "server base `URL`, e.g. https://localhost:8443")
	fs.StringVar(&f.dev, "dev", "", "a dev server's client files (`DIR`, the server's DATA/dev): its CA")
	fs.StringVar(&f.ca, "ca", "", "CA certificates (PEM `FILE`) to verify the server; default system roots")
	cli.DurationVar(fs, &f.timeout, "request-timeout", client.DefaultRequestTimeout, time.Millisecond, "bound on each request")
}

// plain returns the client the flags describe.
func (f *serverFlags) plain(fs *flag.FlagSet) (*client.Plain, error) {
	if err := cli.Conflict(fs, "ca", "dev", "--dev already names the dev server's CA"); err != nil {
		return nil, err
	}
	var roots *x509.CertPool
	var path string
	switch {
	case f.dev != "":
		path = filepath.Join(f.dev, "ca.pem")
	case f.ca != "":
		path = f.ca
	}
	if path != "" {
		cas, err := keyfile.LoadCertificates(path)
		if err != nil {
			return nil, err
		}
		roots = x509.NewCertPool()
		for _, c := range cas {
			roots.AddCert(c)
		}
	}
	return client.NewPlain(f.server, roots, f.timeout)
}

func approveCommand() *cli.Command {
	return &cli.Command{
		Name:    "approve",
		Summary: "approve (or deny) a pending authorization, signing with an approver key",
		Usage:   "--key FILE --server URL [--dev DIR | --ca FILE] [--deny] [--yes] ID",
		Doc: `Approve fetches authorization ID, checks it (the key must be one of its
approvers; the action and policy must hash to what the server states), shows
the decoded action and asks for confirmation on the terminal. It then signs
the decision with --key, over hashes it computed itself, and sends it.
--yes skips the question, for scripts; without --yes, approve refuses to run
when its input is not a terminal. --deny sends a deny instead. The key is a
PEM PKCS#8 private key (Ed25519, ECDSA P-256 or P-384), as 'authorization
keygen' writes it; its public key must be in the server's policy.`,
		Required: []string{"key", "server"},
		Setup: func(fs *flag.FlagSet) cli.Action {
			var sf serverFlags
			sf.define(fs)
			keyFile := fs.String("key", "", "the approver's private key (PEM `FILE`)")
			deny := fs.Bool("deny", false, "deny the authorization instead of approving it")
			yes := fs.Bool("yes", false, "do not ask for confirmation (scripts)")
			return func(env *cli.Env, args []string) error {
				if len(args) != 1 {
					return cli.Usagef("want one authorization ID, got %d arguments", len(args))
				}
				p, err := sf.plain(fs)
				if err != nil {
					return err
				}
				key, err := keyfile.LoadKey(*keyFile)
				if err != nil {
					return fmt.Errorf("--key: %w", err)
				}
				decision := receipt.DecisionApprove
				if *deny {
					decision = receipt.DecisionDeny
				}
				in := terminalInput{os.Stdin}
				return approve(env, p, key, args[0], decision, *yes, in)
			}
		},
	}
}

// input is where approve reads the confirmation from.
type input interface {
	io.Reader
	IsTerminal() bool
}

type terminalInput struct{ f *os.File }

func (t terminalInput) Read(b []byte) (int, error) { return t.f.Read(b) }
func (t terminalInput) IsTerminal() bool           { return term.IsTerminal(int(t.f.Fd())) }

func approve(env *cli.Env, p *client.Plain, key crypto.Signer, id, decision string, yes bool, in input) error {
	if !yes && !in.IsTerminal() {
		return cli.Usagef("the input is not a terminal, so approve cannot ask for confirmation: pass --yes to %s without asking", decision)
	}
	ctx := context.Background()
	v, err := p.Authorization(ctx, id, 0)
	if err != nil {
		printRefusal(env.Stderr, err)
		return cli.ErrReported
	}
	r, err := client.NewReview(v, key)
	if err != nil {
		return err
	}
	printAuthorization(env.Stdout, v, r.ActionJSON)
	who := r.Approver.ID
	if r.Approver.Role != "" {
		who += " (" + r.Approver.Role + ")"
	}
	fmt.Fprintf(env.Stdout, "You are %s. The action and policy hash to what the server states.\n", who)
	if v.State != client.StatePending {
		fmt.Fprintf(env.Stderr, "REFUSED: authorization %s is %s; nothing to decide\n", v.ID, v.State)
		return cli.ErrReported
	}
	if !yes {
		verb := map[string]string{receipt.DecisionApprove: "Approve", receipt.DecisionDeny: "Deny"}[decision]
		fmt.Fprintf(env.Stdout, "%s this action? [y/N] ", verb)
		line, _ := bufio.NewReader(in).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			fmt.Fprintln(env.Stdout, "Nothing sent.")
			return cli.ErrReported
		}
	}
	body, err := r.Sign(decision)
	if err != nil {
		return err
	}
	got, err := p.Decide(ctx, v.ID, body)
	if err != nil {
		printRefusal(env.Stderr, err)
		return cli.ErrReported
	}
	fmt.Fprintf(env.Stdout, "%s sent: %s, %d of %d approvals, %d denials\n", decision, got.State, got.Approvals, got.Threshold, got.Denials)
	return nil
}

// printAuthorization shows an authorization for a person to judge;
// action is the action as JSON (for an approver: decoded from the preimage
// it hashed itself).
func printAuthorization(w io.Writer, v *api.Authorization, action []byte) {
	fmt.Fprintf(w, "Authorization %s: %s (rule %q)\n", v.ID, v.State, v.Rule)
	fmt.Fprintf(w, "  policy    %s (%s %s)\n", v.PolicyID, v.PolicyHash.Alg, v.PolicyHash.Value)
	fmt.Fprintf(w, "  issuer    %s\n", v.Audience)
	fmt.Fprintf(w, "  action    %s\n", strings.ReplaceAll(string(action), "\n", "\n            "))
	fmt.Fprintf(w, "  approvers %d of %s, and the server's appraiser (%s)", v.Threshold, approverList(v.Approvers), v.Appraiser)
	if v.DenyLimit == 1 {
		fmt.Fprint(w, "; one deny ends it")
	} else if v.DenyLimit > 1 {
		fmt.Fprintf(w, "; %d denies end it", v.DenyLimit)
	}
	fmt.Fprintln(w)
	for _, a := range v.Approvers {
		if a.Decision != "" {
			fmt.Fprintf(w, "            %s: %s at %s\n", a.ID, a.Decision, time.Unix(a.Decided, 0).UTC().Format(time.RFC3339))
		}
	}
	exp := time.Unix(v.Expires, 0).UTC()
	fmt.Fprintf(w, "  created   %s\n  expires   %s", time.Unix(v.Created, 0).UTC().Format(time.RFC3339), exp.Format(time.RFC3339))
	if v.State == client.StatePending {
		fmt.Fprintf(w, " (in %s)", exp.Sub(time.Unix(v.Now, 0)).Round(time.Second))
	}
	fmt.Fprintln(w)
}

func approverList(as []api.AuthorizationApprover) string {
	var names []string
	for _, a := range as {
		n := a.ID
		if a.Role != "" {
			n += " (" + a.Role + ")"
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func authorizationCommand() *cli.Command {
	return &cli.Command{Name: "authorization", Summary: "show and list pending authorizations, make approver keys", Subs: []*cli.Command{
		authzShowCommand(), authzListCommand(), keygenCommand(),
	}}
}

func authzShowCommand() *cli.Command {
	return &cli.Command{
		Name:    "show",
		Summary: "show an authorization: its action, approvers, decisions and state",
		Usage:   "--server URL [--dev DIR | --ca FILE] [--wait SECONDS] [--json] ID",
		Doc: `Show reads authorization ID as anyone who knows the id can: the action, the
policy and rule, the approvers and their decisions, and its state. Its
receipt is only shown to the requester, on its own connection. --wait waits
up to SECONDS (at most 25) for a change.`,
		Required: []string{"server"},
		Setup: func(fs *flag.FlagSet) cli.Action {
			var sf serverFlags
			sf.define(fs)
			wait := fs.Int("wait", 0, "wait up to `SECONDS` (0..25) for the authorization to change")
			asJSON := fs.Bool("json", false, "print the server's JSON")
			return func(env *cli.Env, args []string) error {
				if len(args) != 1 {
					return cli.Usagef("want one authorization ID, got %d arguments", len(args))
				}
				if *wait < 0 || time.Duration(*wait)*time.Second > api.MaxWait {
					return cli.Usagef("--wait %d: want 0 to %d seconds", *wait, int(api.MaxWait/time.Second))
				}
				p, err := sf.plain(fs)
				if err != nil {
					return err
				}
				v, err := p.Authorization(context.Background(), args[0], time.Duration(*wait)*time.Second)
				if err != nil {
					printRefusal(env.Stderr, err)
					return cli.ErrReported
				}
				if *asJSON {
					enc := json.NewEncoder(env.Stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(v)
				}
				printAuthorization(env.Stdout, v, v.Action)
				return nil
			}
		},
	}
}

func authzListCommand() *cli.Command {
	return &cli.Command{
		Name:    "list",
		Summary: "list the pending authorizations awaiting an approver",
		Usage:   "--key FILE --server URL [--dev DIR | --ca FILE] [--json]",
		Doc: `List signs an approver query with --key and asks the server for the
pending authorizations that await that approver's decision (at most 100,
oldest first). The approver's id is the one the server's policy gives the
key (read from the server's keys document).`,
		Required: []string{"key", "server"},
		Setup: func(fs *flag.FlagSet) cli.Action {
			var sf serverFlags
			sf.define(fs)
			keyFile := fs.String("key", "", "the approver's private key (PEM `FILE`)")
			asJSON := fs.Bool("json", false, "print the server's JSON")
			return func(env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("unexpected argument %q", args[0])
				}
				p, err := sf.plain(fs)
				if err != nil {
					return err
				}
				key, err := keyfile.LoadKey(*keyFile)
				if err != nil {
					return fmt.Errorf("--key: %w", err)
				}
				return authzList(env, p, key, *asJSON)
			}
		},
	}
}

func authzList(env *cli.Env, p *client.Plain, key crypto.Signer, asJSON bool) error {
	ctx := context.Background()
	keys, _, err := p.Keys(ctx)
	if err != nil {
		return err
	}
	pol, err := policy.ParseCanonical(keys.PolicyCBOR)
	if err != nil {
		return fmt.Errorf("the server's policy: %w", err)
	}
	id := ""
	for _, a := range pol.Receipts.Approvers {
		if pub, err := policy.ParsePublicKey(a.PublicKeyPEM); err == nil {
			if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); ok && eq.Equal(key.Public()) {
				id = a.ID
			}
		}
	}
	if id == "" {
		return fmt.Errorf("--key: this key is not an approver in the server's policy %q", pol.ID)
	}
	q, err := client.SignQuery(key, id, keys.Issuer, time.Now())
	if err != nil {
		return err
	}
	l, err := p.Pending(ctx, q)
	if err != nil {
		printRefusal(env.Stderr, err)
		return cli.ErrReported
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(l)
	}
	fmt.Fprintf(env.Stdout, "%d pending authorization(s) await %s:\n", len(l.Authorizations), l.Approver)
	for _, v := range l.Authorizations {
		var a struct {
			Requested json.RawMessage `json:"requested"`
		}
		json.Unmarshal(v.Action, &a)
		req := string(a.Requested)
		var compact bytes.Buffer
		if json.Compact(&compact, a.Requested) == nil {
			req = compact.String()
		}
		fmt.Fprintf(env.Stdout, "  %s  rule %-16s %d of %d approved  expires %s  requested %s\n", v.ID, v.Rule, v.Approvals, v.Threshold,
			time.Unix(v.Expires, 0).UTC().Format(time.RFC3339), req)
	}
	return nil
}

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:    "keygen",
		Summary: "make an approver key and print its entry for the policy",
		Usage:   "--id NAME --out FILE [--role ROLE] [--alg ed25519|es256|es384]",
		Doc: `Keygen writes a new private key to --out (PEM PKCS#8, mode 0600; an
existing file is never overwritten) and prints the approver entry to add
under receipts.approvers in the server's policy (see
policy/testdata/approvals.yaml).`,
		Required: []string{"id", "out"},
		Setup: func(fs *flag.FlagSet) cli.Action {
			id := fs.String("id", "", "the approver's id in the policy")
			role := fs.String("role", "", "the approver's role, recorded in receipts (optional)")
			out := fs.String("out", "", "where to write the private key (PEM `FILE`)")
			var alg string
			cli.EnumVar(fs, &alg, "alg", "ed25519", []string{"ed25519", "es256", "es384"}, "key type: ed25519, es256 (ECDSA P-256) or es384 (ECDSA P-384)")
			return func(env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("unexpected argument %q", args[0])
				}
				return keygen(env, *id, *role, *out, alg)
			}
		},
	}
}

func keygen(env *cli.Env, id, role, out, alg string) error {
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("--out %s exists: keygen never overwrites a key", out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--out: %w", err)
	}
	var key crypto.Signer
	var err error
	switch alg {
	case "es256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "es384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return err
	}
	if err := keyfile.WriteKey(out, key); err != nil {
		return err
	}
	fmt.Fprint(env.Stdout, ApproverEntry(id, role, key.Public()))
	return nil
}

// ApproverEntry is the YAML of one receipts.approvers entry, indented to
// sit under "  approvers:".
func ApproverEntry(id, role string, pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // our own Ed25519/ECDSA key
	}
	var b strings.Builder
	// JSON strings are YAML strings: any id or role is quoted safely.
	q := func(s string) string { j, _ := json.Marshal(s); return string(j) }
	b.WriteString("    - id: " + q(id) + "\n")
	if role != "" {
		b.WriteString("      role: " + q(role) + "\n")
	}
	b.WriteString("      public_key_pem: |\n")
	for _, line := range strings.Split(strings.TrimRight(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), "\n"), "\n") {
		b.WriteString("        " + line + "\n")
	}
	return b.String()
}
