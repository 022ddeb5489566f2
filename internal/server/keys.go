package server

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/keystore"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/receipt/store"
	"github.com/seatrx/seatrx/tlsbind"
)

// DefaultKeyReloadInterval is how often a server polls its key directory's
// manifests for a rotation made by another process (SIGHUP reloads at once).
const DefaultKeyReloadInterval = 10 * time.Second

// DefaultRotationOverlap is how long a rotated-out key stays valid after a
// rotation, so that replicas that have not reloaded yet (one poll interval,
// plus margin) still sign receipts inside its window.
const DefaultRotationOverlap = 60 * time.Second

// legacyKeyFiles are the single key files of servers before the key
// directory (DATA/keys/ROLE.pem); a role without a manifest imports its file.
var legacyKeyFiles = map[string]string{
	keystore.RoleIssuer: "issuer.pem", keystore.RoleAppraiser: "appraiser.pem", keystore.RoleEARVerifier: "verifier.pem",
}

// keyState is everything that changes when keys rotate; handlers read it
// once per request (Server.keyState), so a reload never mixes two states.
type keyState struct {
	issuer   *receipt.Signer
	approver *receipt.Signer
	earKey   crypto.Signer
	checker  *tlsbind.Checker
	doc      *receipt.Keys
	wca      *workloadCA       // nil: the policy issues no credentials
	versions map[string]string // role: manifest version
}

// roles returns the roles this server uses: the receipt roles, and the
// workload CA when the policy issues credentials.
func (s *Server) roles() []string {
	if s.pol.Credentials != nil {
		return keystore.AllRoles
	}
	return keystore.Roles
}

// KeyDir returns the directory the server keeps its keys in: Config.KeyDir,
// or DATA/keys.
func KeyDir(cfg Config) string {
	if cfg.KeyDir != "" {
		return cfg.KeyDir
	}
	return filepath.Join(cfg.DataDir, "keys")
}

// existingAppraiserKey returns the appraiser's current public key from the
// key directory, or from its pre-directory file, reading nothing else and
// writing nothing; fs.ErrNotExist (with the path it looked at) when there is
// none yet.
func existingAppraiserKey(cfg Config) (crypto.PublicKey, string, error) {
	dir := keystore.Open(KeyDir(cfg))
	r, err := dir.Load(keystore.RoleAppraiser)
	if err == nil {
		return r.Current.Public(), dir.ManifestPath(keystore.RoleAppraiser), nil
	}
	if !errors.Is(err, keystore.ErrNoKeys) {
		return nil, "", err
	}
	legacy := filepath.Join(dir.Path(), legacyKeyFiles[keystore.RoleAppraiser])
	k, err := keyfile.LoadKey(legacy)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, dir.ManifestPath(keystore.RoleAppraiser), fs.ErrNotExist
	}
	if err != nil {
		return nil, "", err
	}
	return k.Public(), legacy, nil
}

// openKeys loads every role from the key directory. A role without keys is
// imported from its pre-directory file, else created, but only while the
// store holds no receipt (or in dev mode): a server whose store holds
// receipts refuses to start with a missing or different key, instead of
// minting a new identity its receipts would not verify under.
func (s *Server) openKeys(ctx context.Context) error {
	dir := keystore.Open(KeyDir(s.cfg))
	s.keyDir = dir
	n, first, last, err := s.store.EdgeReceipts(ctx)
	if err != nil {
		return fmt.Errorf("server: store: %w", err)
	}
	roles := map[string]*keystore.Role{}
	for _, role := range s.roles() {
		r, err := dir.Load(role)
		switch {
		case errors.Is(err, keystore.ErrNoKeys) && s.cfg.KeysReadOnly:
			err = fmt.Errorf("the %s key is missing (%s does not exist) and --keys-readonly forbids creating one: start one server without --keys-readonly once to create them in the shared key directory", role, dir.ManifestPath(role))
		case errors.Is(err, keystore.ErrNoKeys) && role == keystore.RoleWorkloadCA:
			// A new workload CA changes nothing a stored receipt relies on.
			s.log.Info("created a key", "role", role, "dir", dir.RolePath(role))
			r, err = dir.Create(role, s.now())
		case errors.Is(err, keystore.ErrNoKeys):
			r, err = s.firstKey(dir, role, n, first)
		}
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		roles[role] = r
	}
	if n > 0 {
		for _, rec := range []*store.Receipt{first, last} {
			if err := checkSignedBy(rec, roles, dir); err != nil {
				if !s.cfg.Dev {
					return fmt.Errorf("server: the store %s holds %d receipts, but %w; refusing to start rather than sign with another identity (restore the key directory)",
						store.Redact(s.StorePath()), n, err)
				}
				s.log.Warn("dev mode: stored receipts were signed by keys this key directory does not hold; they will not verify", "err", err)
				break
			}
		}
	}
	st, err := s.buildKeyState(roles)
	if err != nil {
		return err
	}
	s.keys.Store(st)
	return nil
}

// firstKey makes the first key of a role: its pre-directory file if there
// is one, else a new key, which a store holding receipts forbids outside
// dev mode.
func (s *Server) firstKey(dir *keystore.Dir, role string, receipts int64, first *store.Receipt) (*keystore.Role, error) {
	legacy := filepath.Join(dir.Path(), legacyKeyFiles[role])
	if st, err := os.Stat(legacy); err == nil {
		k, err := keyfile.LoadKey(legacy)
		if err != nil {
			return nil, err
		}
		nb := st.ModTime()
		if first != nil && first.IssuedAt.Before(nb) {
			nb = first.IssuedAt
		}
		s.log.Info("imported a key into the key directory", "role", role, "from", legacy, "to", dir.RolePath(role))
		return dir.Import(role, k, nb, legacy)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if receipts > 0 && !s.cfg.Dev {
		return nil, fmt.Errorf("the store %s holds %d receipts, but the %s key is missing (%s does not exist); refusing to mint a new %s identity: restore the key directory (only --dev creates keys over existing receipts)",
			store.Redact(s.StorePath()), receipts, role, dir.ManifestPath(role), role)
	}
	s.log.Info("created a key", "role", role, "dir", dir.RolePath(role))
	return dir.Create(role, s.now())
}

// checkSignedBy checks that a stored receipt's issuer and approver kids are
// in the key directory's histories.
func checkSignedBy(rec *store.Receipt, roles map[string]*keystore.Role, dir *keystore.Dir) error {
	r, err := parseStored(rec)
	if err != nil {
		return err
	}
	has := func(role string, kid []byte) bool {
		return slices.ContainsFunc(roles[role].Kids(), func(k []byte) bool { return bytes.Equal(k, kid) })
	}
	if !has(keystore.RoleIssuer, r.KeyID) {
		return fmt.Errorf("receipt %x was signed by issuer key %x, which %s does not list", r.ReceiptID, r.KeyID, dir.ManifestPath(keystore.RoleIssuer))
	}
	for _, a := range r.ApproverIdentities {
		if a.ID == receipt.AppraiserID && !has(keystore.RoleAppraiser, a.Kid) {
			return fmt.Errorf("receipt %x was approved by appraiser key %x, which %s does not list", r.ReceiptID, a.Kid, dir.ManifestPath(keystore.RoleAppraiser))
		}
	}
	return nil
}

// buildKeyState makes the signers, the EAR checker and the keys document of
// one set of loaded roles.
func (s *Server) buildKeyState(roles map[string]*keystore.Role) (*keyState, error) {
	st := &keyState{versions: map[string]string{}, earKey: roles[keystore.RoleEARVerifier].Current}
	for r, k := range roles {
		st.versions[r] = k.Version
	}
	var err error
	if st.issuer, err = receipt.NewSigner(roles[keystore.RoleIssuer].Current, s.cfg.Issuer); err != nil {
		return nil, fmt.Errorf("server: issuer key: %w", err)
	}
	appr := roles[keystore.RoleAppraiser].Current
	id, err := s.appraiserID(appr.Public())
	if err != nil {
		return nil, err
	}
	if st.approver, err = receipt.NewSigner(appr, id); err != nil {
		return nil, fmt.Errorf("server: appraiser key: %w", err)
	}
	st.approver = st.approver.WithRole("appraiser")
	iss, err := ear.NewIssuer(st.earKey, "seatrx", "seatrx-server")
	if err != nil {
		return nil, fmt.Errorf("server: EAR issuer: %w", err)
	}
	st.checker = &tlsbind.Checker{Verifier: s.verifier, Issuer: iss, Now: s.now, Passport: s.passport}
	doc := &receipt.Keys{Simulated: s.simPKI != nil, Issuer: s.cfg.Issuer, PolicyCBOR: s.polCBOR}
	for _, role := range keystore.Roles {
		h, err := roles[role].Public()
		if err != nil {
			return nil, err
		}
		doc.History = append(doc.History, h...)
	}
	if pp := s.passport; pp != nil {
		for _, t := range pp.Trusted {
			ck, err := receipt.COSEKey(t.Key)
			if err != nil {
				return nil, fmt.Errorf("server: passport verifier %q: %w", t.ID, err)
			}
			doc.PassportVerifiers = append(doc.PassportVerifiers, ck)
		}
	}
	st.doc = doc
	if r := roles[keystore.RoleWorkloadCA]; r != nil {
		if st.wca, err = s.loadWorkloadCA(s.keyDir, r); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// keyState returns the keys in force (one consistent set per request).
func (s *Server) keyState() *keyState { return s.keys.Load() }

// ReloadKeys re-reads the key directory and, if any role's manifest changed
// (a rotation by another process or by keys rotate), switches to the new
// keys. It reports whether it switched. A directory that does not load
// keeps the keys in force (the error says why).
func (s *Server) ReloadKeys() (bool, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cur := s.keyState()
	changed := false
	for _, role := range s.roles() {
		v, err := s.keyDir.Version(role)
		if err != nil {
			return false, fmt.Errorf("server: reload keys: %w", err)
		}
		changed = changed || v != cur.versions[role]
	}
	if !changed {
		return false, nil
	}
	roles := map[string]*keystore.Role{}
	for _, role := range s.roles() {
		r, err := s.keyDir.Load(role)
		if err != nil {
			return false, fmt.Errorf("server: reload keys: %w", err)
		}
		roles[role] = r
	}
	st, err := s.buildKeyState(roles)
	if err != nil {
		return false, fmt.Errorf("server: reload keys: %w", err)
	}
	s.keys.Store(st)
	kid := st.issuer.KeyID()
	s.log.Info("keys reloaded", "issuer_kid", fmt.Sprintf("%x", kid), "keys", len(st.doc.History))
	return true, nil
}

// watchKeys polls the key directory until stop is closed.
func (s *Server) watchKeys(every time.Duration, stop <-chan struct{}) {
	runEvery(every, stop, func() {
		if _, err := s.ReloadKeys(); err != nil {
			s.log.Error("key directory", "err", err)
		}
	})
}
