package server

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/seatrx/seatrx/credential"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/tlsbind"
)

// issuedCredential is the newest SVID issued on a connection.
type issuedCredential struct {
	id      spiffeid.ID
	keyHash [sha256.Size]byte // SHA-256 of the SVID's SubjectPublicKeyInfo
	serial  string
}

// workloadID returns the SPIFFE ID the policy maps the attested workload
// res to, or a *credential.Error: not_configured without a credentials
// section, no_workload_identity when no entry matches (never a default).
// The reference values are the appraisal's named measurements; a passport
// result's are those its trusted verifier reported in the EAR.
func (s *Server) workloadID(res *tlsbind.Result) (spiffeid.ID, error) {
	cr := s.pol.Credentials
	if cr == nil {
		return spiffeid.ID{}, &credential.Error{Code: credential.CodeNotConfigured, Detail: "this server's policy has no credentials section: it issues no workload credentials"}
	}
	platform, get := res.Claims.Submod, func(string) ([]byte, bool) { return nil, false }
	if a := res.Appraisal; a != nil {
		platform = string(a.Platform)
		get = func(name string) ([]byte, bool) {
			for _, m := range a.Measurements {
				if m.Name == name {
					return m.Value, true
				}
			}
			return nil, false
		}
	} else if ms := res.Claims.Measurements; len(ms) > 0 {
		get = func(name string) ([]byte, bool) {
			v, ok := ms[name]
			if !ok {
				return nil, false
			}
			b, err := hex.DecodeString(v)
			return b, err == nil
		}
	}
	w, ok := cr.Workload(platform, get)
	if !ok {
		return spiffeid.ID{}, &credential.Error{Code: credential.CodeNoWorkloadIdentity,
			Detail: fmt.Sprintf("the attested %s workload's reference values map to no workload name in policy %q (credentials.workloads)", platform, s.pol.ID)}
	}
	id, err := w.SPIFFEID(cr.TrustDomain)
	if err != nil { // Validate checked it: our own data is broken
		return spiffeid.ID{}, fmt.Errorf("policy workload %q: %w", w.Name, err)
	}
	return id, nil
}

// validUntil is the end of the attestation result's validity: the
// appraisal's (its endorsement chain) in the background-check model; in the
// passport model, as long as the policy accepts the verifier's EAR.
func (s *Server) validUntil(res *tlsbind.Result) time.Time {
	if res.Appraisal != nil {
		return res.Appraisal.ValidUntil
	}
	if s.passport != nil && res.Claims != nil {
		age := s.passport.MaxAge
		if age == 0 {
			age = ear.DefaultMaxAge
		}
		return res.Claims.IssuedAt.Add(age)
	}
	return res.At
}

// handleCredential issues an X.509-SVID for the key this connection
// attested (POST /v1/credentials). The proof of possession is the
// authenticator's CertificateVerify; an optional DER PKCS#10 body must
// carry the same key. One credential per attestation: renewing is
// re-attesting on the connection and asking again.
func (s *Server) handleCredential(w http.ResponseWriter, r *http.Request, c *conn, res *tlsbind.Result) {
	ks := s.keyState()
	if err := s.checkIssuable(res); err != nil {
		reject(w, err)
		return
	}
	id, err := s.workloadID(res)
	if err != nil {
		s.credentialRefused(w, err, http.StatusForbidden)
		return
	}
	body, ok := readBody(w, r, credential.MaxCSRSize)
	if !ok {
		return
	}
	pub, err := x509.ParsePKIXPublicKey(res.AIK)
	if err != nil { // checked when the authenticator was validated
		s.internal(w, "parse the attested key", err)
		return
	}
	if len(body) > 0 {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != credential.MediaTypeCSR {
			s.credentialRefused(w, &credential.Error{Code: credential.CodeBadCSR, Field: "Content-Type",
				Detail: fmt.Sprintf("%q: a CSR is sent as %s (DER), or no body at all", r.Header.Get("Content-Type"), credential.MediaTypeCSR)}, http.StatusBadRequest)
			return
		}
		csr, err := credential.ParseCSR(body)
		if err == nil {
			err = credential.CheckCSR(csr, pub, id.String())
		}
		if err != nil {
			s.credentialRefused(w, err, http.StatusBadRequest)
			return
		}
	}
	if !c.claimCredential(res.Context) {
		s.credentialRefused(w, &credential.Error{Code: credential.CodeAttestationUsed,
			Detail: "this attestation already has its credential: request a new challenge and re-attest on this connection to renew"}, http.StatusForbidden)
		return
	}
	now := s.now()
	ca, err := ks.wca.signer(now)
	if err != nil {
		c.releaseCredential(res.Context)
		s.internal(w, "choose the workload CA", err)
		return
	}
	svid, err := ca.Issue(credential.Request{
		ID: id, PublicKey: pub, Now: now, Lifetime: time.Duration(s.pol.Credentials.Lifetime), ValidUntil: s.validUntil(res),
		Summary: credential.NewSummary(res.Claims.Submod, res.Claims.Status, res.EAR, res.Claims.Simulated, res.At),
	})
	if err != nil {
		c.releaseCredential(res.Context)
		s.internal(w, "issue an SVID", err)
		return
	}
	c.mu.Lock()
	c.credential = &issuedCredential{id: id, keyHash: sha256.Sum256(res.AIK), serial: svid.SerialNumber.Text(16)}
	c.mu.Unlock()
	s.metrics.credentials.Inc()
	s.log.Info("credential issued", "conn", c.id, "spiffe_id", id.String(), "serial", svid.SerialNumber.Text(16),
		"not_after", svid.NotAfter.Format(time.RFC3339), "simulated", res.Claims.Simulated)
	w.Header().Set("Content-Type", api.MediaCertChain)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(credential.ChainPEM(svid))
}

// checkIssuable applies the rules every issuance on an attestation shares:
// an EAR status the server accepts, and an attestation at most
// AttestationMaxAge old.
func (s *Server) checkIssuable(res *tlsbind.Result) *Error {
	if !s.accepted[res.Claims.Status] {
		return &Error{Status: http.StatusForbidden, Code: CodeAttestationStatus, Title: "Attestation result not accepted",
			Detail: fmt.Sprintf("EAR status %q is not accepted by this server's issuing policy", res.Claims.Status), Step: tlsbind.StepResult}
	}
	if age := s.now().Sub(res.At); age > s.cfg.AttestationMaxAge {
		return &Error{Status: http.StatusForbidden, Code: CodeAttestationStale, Title: "Attestation too old",
			Detail: fmt.Sprintf("the attestation on this connection is %s old (limit %s); re-attest", age.Round(time.Second), s.cfg.AttestationMaxAge), Step: tlsbind.StepResult}
	}
	return nil
}

// credentialRefused writes a credential refusal (a *credential.Error, or
// anything else as an internal error).
func (s *Server) credentialRefused(w http.ResponseWriter, err error, status int) {
	var ce *credential.Error
	if !errors.As(err, &ce) {
		s.internal(w, "credential", err)
		return
	}
	s.metrics.credentialRefusals.WithLabelValues(ce.ProblemCode()).Inc()
	writeProblem(w, status, ce.ProblemCode(), "Credential refused", ce.Error(), "")
}

// handleBundle serves the workload CA's trust bundle: the SPIFFE bundle
// (JWKS) or, for .pem, PEM certificates. Both list every CA certificate of
// the key history a valid SVID may still chain to (credential.InBundle).
func (s *Server) handleBundle(pemForm bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		wca := s.keyState().wca
		if wca == nil {
			writeProblem(w, http.StatusNotFound, (&credential.Error{Code: credential.CodeNotConfigured}).ProblemCode(), "No workload credentials",
				"this server's policy has no credentials section", "")
			return
		}
		cas := wca.bundle(s.now())
		w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", int(credential.BundleRefreshHint/time.Second)))
		if pemForm {
			w.Header().Set("Content-Type", api.MediaCertChain)
			w.Write(credential.BundlePEM(cas))
			return
		}
		out, err := credential.BundleJWKS(cas, credential.BundleRefreshHint)
		if err != nil {
			s.internal(w, "encode the trust bundle", err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	}
}

// verifyClientSVID is the TLS handshake's check of a client certificate:
// none is fine (ordinary clients), one must be an X.509-SVID of this trust
// domain chaining to the workload CA bundle (go-spiffe's x509svid.Verify).
func (s *Server) verifyClientSVID(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	_, _, err := s.peerSVID(cs.PeerCertificates)
	return err
}

// peerSVID verifies a presented certificate chain as an X.509-SVID of the
// workload CA at the current time and returns the SPIFFE ID and the leaf.
func (s *Server) peerSVID(chain []*x509.Certificate) (*x509.Certificate, spiffeid.ID, error) {
	wca := s.keyState().wca
	if wca == nil {
		return nil, spiffeid.ID{}, errors.New("server: no workload CA: client certificates are not accepted")
	}
	now := s.now()
	id, _, err := x509svid.Verify(chain, wca.x509Bundle(now), x509svid.WithTime(now))
	if err != nil {
		return nil, spiffeid.ID{}, err
	}
	return chain[0], id, nil
}

// requester is who a connection proves to be: the keys it proves (the
// SHA-256 of their SubjectPublicKeyInfo: the attested key, and the key of
// the X.509-SVID it presented over mTLS) and, if it presented an SVID, its
// SPIFFE ID. It is the one place that says "the same requester" for
// anything bound to a key or a workload identity: token redemption, and
// who may fetch a pending authorization's receipt (isRequester: "same
// attested key or workload identity").
type requester struct {
	keys     [][]byte
	spiffeID string // "" without an SVID
}

// requesterOf returns who connection c proves to be, or why it proves
// nothing: the connection's attestation refusal (attest.not_attested) when
// it neither attested nor presented an SVID, credential.bad_svid when its
// SVID no longer verifies (expired, or its CA left the bundle: checked per
// request, not only at the handshake). An SVID-authenticated connection
// stops counting against the un-attested connection limit.
func (s *Server) requesterOf(c *conn, sess *tlsbind.Session) (*requester, error) {
	who := &requester{}
	res, attErr := sess.Attested()
	if attErr == nil {
		h := sha256.Sum256(res.AIK)
		who.keys = append(who.keys, h[:])
	}
	if pc := c.tls.ConnectionState().PeerCertificates; len(pc) > 0 {
		leaf, id, err := s.peerSVID(pc)
		if err != nil {
			return nil, &credential.Error{Code: credential.CodeBadSVID, Detail: err.Error(), Err: err}
		}
		h := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
		who.keys = append(who.keys, h[:])
		who.spiffeID = id.String()
		if c.ac != nil {
			c.ac.attested()
		}
	}
	if len(who.keys) == 0 {
		return nil, attErr
	}
	return who, nil
}
