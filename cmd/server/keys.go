package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/internal/keystore"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
)

// keysCommand is "seatrx-server keys show|export|rotate": the key directory,
// read and rotated by an operator while servers run (they reload on their
// next poll or on SIGHUP).
func keysCommand() *cli.Command {
	return &cli.Command{Name: "keys", Summary: "show, export and rotate the server's keys", Subs: []*cli.Command{
		{
			Name: "show", Summary: "print every key of every role with its window, and the rotations",
			Usage: "(--data DIR | --key-dir DIR) [--role ROLE] [--json]",
			Setup: func(fs *flag.FlagSet) cli.Action {
				dir, role := keyDirFlags(fs)
				asJSON := fs.Bool("json", false, "print the manifests as JSON")
				return keysAction(dir, role, false, func(env *cli.Env, d *keystore.Dir, roles []string) error {
					return keysShow(env.Stdout, d, roles, *asJSON)
				})
			},
		},
		{
			Name: "export", Summary: "write the public keys as PEM, a JWK Set or COSE_Keys",
			Usage: "(--data DIR | --key-dir DIR) [--role ROLE|all] [--format pem|jwk|cose] [--out FILE]",
			Doc: `Export writes every public key of the history (all roles, or --role), each
with its kid (the RFC 9679 COSE Key Thumbprint, lowercase hex), role and
validity window: PEM blocks each after a "# role ... kid ... valid ..." line
(OpenSSL reads them), a JWK Set (kid, seatrx_role, seatrx_not_before,
seatrx_not_after), or a CBOR array of COSE_Keys with kid (label 2).`,
			Setup: func(fs *flag.FlagSet) cli.Action {
				dir, role := keyDirFlags(fs)
				var format string
				cli.EnumVar(fs, &format, "format", keystore.FormatPEM, keystore.Formats, "pem, jwk or cose")
				out := fs.String("out", "", "write to `FILE` instead of standard output")
				return keysAction(dir, role, true, func(env *cli.Env, d *keystore.Dir, roles []string) error {
					return keysExport(env.Stdout, d, roles, format, *out)
				})
			},
		},
		{
			Name: "rotate", Summary: "retire a role's current key and start a new one",
			Usage: "(--data DIR | --key-dir DIR) [--role ROLE] [--overlap 60s] [--reason TEXT]",
			Doc: `Rotate retires the current key of --role (default issuer): it stays valid for
--overlap more, so that replicas that have not reloaded yet still sign valid
receipts, then never again; a new key is current from now. The rotation is
recorded in the role's manifest; retired keys stay in the keys document
(GET /v1/keys) with their windows. Running servers switch at their next key
poll (--key-reload-interval) or at once on SIGHUP.

For --role workload-ca the retired key keeps signing SVIDs during the
overlap while the new CA certificate is already in the trust bundle, so
relying parties fetch the new CA before any SVID it signed reaches them:
give an overlap of at least the bundle's refresh hint (5m), e.g. 10m.`,
			Setup: func(fs *flag.FlagSet) cli.Action {
				dir, role := keyDirFlags(fs)
				var overlap time.Duration
				cli.DurationVar(fs, &overlap, "overlap", server.DefaultRotationOverlap, 0, "how long the retired key stays valid")
				reason := fs.String("reason", "", "why (recorded in the manifest)")
				return keysAction(dir, role, false, func(env *cli.Env, d *keystore.Dir, roles []string) error {
					r := keystore.RoleIssuer
					if len(roles) == 1 {
						r = roles[0]
					}
					return keysRotate(env.Stdout, d, r, overlap, *reason)
				})
			},
		},
	}}
}

// keyDirFlags defines --data, --key-dir and --role.
func keyDirFlags(fs *flag.FlagSet) (func() (*keystore.Dir, error), *string) {
	data := fs.String("data", "", "the server's data `DIR` (its keys are in DIR/keys)")
	keyDir := fs.String("key-dir", "", "the key `DIR`, if not DATA/keys")
	role := fs.String("role", "", "key `ROLE`: issuer, appraiser, ear-verifier or workload-ca")
	return func() (*keystore.Dir, error) {
		if *data == "" && *keyDir == "" {
			return nil, cli.Usagef("missing required flag --data (or --key-dir)")
		}
		return keystore.Open(server.KeyDir(server.Config{DataDir: *data, KeyDir: *keyDir})), nil
	}, role
}

// keysAction checks the arguments and --role, then runs do on the roles.
func keysAction(dir func() (*keystore.Dir, error), role *string, allowAll bool, do func(*cli.Env, *keystore.Dir, []string) error) cli.Action {
	return func(env *cli.Env, args []string) error {
		if len(args) > 0 {
			return cli.Usagef("unexpected argument %q", args[0])
		}
		d, err := dir()
		if err != nil {
			return err
		}
		roles := keystore.Roles
		if _, err := d.Version(keystore.RoleWorkloadCA); err == nil {
			roles = keystore.AllRoles // a server whose policy issues credentials made it
		}
		switch {
		case *role == "", *role == "all" && allowAll:
		case slices.Contains(keystore.AllRoles, *role):
			roles = []string{*role}
		default:
			return cli.Usagef("--role %q: want %s", *role, strings.Join(keystore.AllRoles, ", "))
		}
		return do(env, d, roles)
	}
}

// keysShow prints each role's history: kid, window, state, SPKI SHA-256
// and origin, then its rotations.
func keysShow(w io.Writer, dir *keystore.Dir, roles []string, asJSON bool) error {
	var ms []keystore.Manifest
	for _, r := range roles {
		role, err := dir.Load(r)
		if err != nil {
			return err
		}
		ms = append(ms, role.Manifest)
		if asJSON {
			continue
		}
		fmt.Fprintf(w, "%s (%s)\n", r, dir.ManifestPath(r))
		keys, err := role.Keys()
		if err != nil {
			return err
		}
		for _, k := range keys {
			state, until := "current", "-"
			if k.Entry.NotAfter != nil {
				state, until = "retired", k.Entry.NotAfter.Format(time.RFC3339)
			}
			fp, err := receipt.SPKIFingerprint(k.Key)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "  %-7s kid %s\n          valid %s .. %s\n          spki-sha256 %x\n          %s\n",
				state, k.Entry.Kid, k.Entry.NotBefore.Format(time.RFC3339), until, fp, k.Entry.Origin)
		}
		for _, rot := range role.Manifest.Rotations {
			fmt.Fprintf(w, "  rotated %s: %s retired at %s, %s started", rot.At.Format(time.RFC3339), short(rot.Retired), rot.RetiredAt.Format(time.RFC3339), short(rot.Started))
			if rot.Reason != "" {
				fmt.Fprintf(w, " (%s)", rot.Reason)
			}
			fmt.Fprintln(w)
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(ms)
	}
	return nil
}

func short(kid string) string {
	if len(kid) > 16 {
		return kid[:16] + "…"
	}
	return kid
}

// keysExport writes the public keys of roles in format.
func keysExport(w io.Writer, dir *keystore.Dir, roles []string, format, out string) error {
	var all []keystore.ExportedKey
	for _, r := range roles {
		role, err := dir.Load(r)
		if err != nil {
			return err
		}
		ks, err := role.Keys()
		if err != nil {
			return err
		}
		all = append(all, ks...)
	}
	b, err := keystore.Export(all, format)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = w.Write(b)
		return err
	}
	return os.WriteFile(filepath.Clean(out), b, 0o644)
}

// keysRotate retires role's current key and starts a new one.
func keysRotate(w io.Writer, dir *keystore.Dir, role string, overlap time.Duration, reason string) error {
	rot, err := dir.Rotate(role, time.Now(), overlap, reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "rotated %s key: %s retired (valid until %s), %s current\nrecorded in %s\nrunning servers switch at their next key poll (default every %s) or on SIGHUP\n",
		role, rot.Retired, rot.RetiredAt.Format(time.RFC3339), rot.Started, dir.ManifestPath(role), server.DefaultKeyReloadInterval)
	return nil
}
