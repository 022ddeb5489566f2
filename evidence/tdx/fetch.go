package tdx

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-tdx-guest/pcs"
	"github.com/google/go-tdx-guest/verify/trust"

	"github.com/seatrx/seatrx/evidence/check"
)

// PCS response headers carrying issuer chains (URL-escaped PEM: signer, then root).
const (
	headerTCBInfoChain    = "Tcb-Info-Issuer-Chain"
	headerQEIdentityChain = "Sgx-Enclave-Identity-Issuer-Chain"
	headerPCKCRLChain     = "Sgx-Pck-Crl-Issuer-Chain"
)

// ErrFetch is wrapped by every FetchCollateral error, together with the
// getter's own error (e.g. a fetch.ErrTimeout) when there is one.
var ErrFetch = errors.New("tdx: fetch collateral")

// contextGetter is the optional context-aware form of trust.HTTPSGetter
// (fetch.Getter.TDX() provides it); FetchCollateral prefers it.
type contextGetter interface {
	GetContext(ctx context.Context, url string) (map[string][]string, []byte, error)
}

// FetchCollateral obtains the Intel PCS collateral for a platform's FMSPC
// (12 hex digits) the way go-tdx-guest does: TCB info (pcs.TcbInfoURL) and QE
// identity (pcs.QeIdentityURL) with their issuer chains from the response
// headers, the PCK Platform CA CRL (pcs.PckCrlURL("platform")) with its chain,
// and the root CA CRL from the CRL distribution point of the QE identity
// issuer chain's root. It checks shapes and sizes only; Verify checks
// signatures, chains and freshness. Nothing is fetched except through g.
func FetchCollateral(ctx context.Context, g trust.HTTPSGetter, fmspc string) (*Collateral, error) {
	if g == nil {
		return nil, fmt.Errorf("%w: no getter", ErrFetch)
	}
	if b, err := hex.DecodeString(fmspc); err != nil || len(b) != 6 {
		return nil, fmt.Errorf("%w: FMSPC %q is not 6 hex-encoded bytes", ErrFetch, fmspc)
	}
	fmspc = strings.ToLower(fmspc)
	c := &Collateral{}
	var err error
	if c.TCBInfo, c.TCBInfoIssuerChain, _, err = fetchSignedJSON(ctx, g, pcs.TcbInfoURL(fmspc), "tcbInfo", headerTCBInfoChain); err != nil {
		return nil, err
	}
	var qeRoot *x509.Certificate
	if c.QEIdentity, c.QEIdentityIssuerChain, qeRoot, err = fetchSignedJSON(ctx, g, pcs.QeIdentityURL(), "enclaveIdentity", headerQEIdentityChain); err != nil {
		return nil, err
	}
	u := pcs.PckCrlURL("platform")
	h, body, err := fetchItem(ctx, g, u)
	if err != nil {
		return nil, err
	}
	if _, err := x509.ParseRevocationList(body); err != nil {
		return nil, fmt.Errorf("%w: %s: not a DER CRL: %w", ErrFetch, u, err)
	}
	if c.PCKCRLIssuerChain, _, err = issuerChain(u, h, headerPCKCRLChain); err != nil {
		return nil, err
	}
	c.PCKCRL = body
	if c.RootCRL, err = fetchRootCRL(ctx, g, qeRoot); err != nil {
		return nil, err
	}
	return c, nil
}

// fetchItem GETs one collateral URL, with ctx when g supports it, and checks
// the body size before anything parses it.
func fetchItem(ctx context.Context, g trust.HTTPSGetter, u string) (http.Header, []byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrFetch, u, err)
	}
	var (
		h    map[string][]string
		body []byte
		err  error
	)
	if cg, ok := g.(contextGetter); ok {
		h, body, err = cg.GetContext(ctx, u)
	} else {
		h, body, err = g.Get(u)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrFetch, u, err)
	}
	if len(body) == 0 {
		return nil, nil, fmt.Errorf("%w: %s: empty body: %w", ErrFetch, u, ErrCollateralMissing)
	}
	if len(body) > MaxCollateralItem {
		return nil, nil, fmt.Errorf("%w: %s: %d bytes: %w (limit %d)", ErrFetch, u, len(body), ErrCollateralTooLarge, MaxCollateralItem)
	}
	return http.Header(h), body, nil
}

// fetchSignedJSON fetches a PCS JSON document whose top level must hold
// member (the signed object) and returns it with its issuer chain (PEM) and
// the chain's root certificate.
func fetchSignedJSON(ctx context.Context, g trust.HTTPSGetter, u, member, chainHeader string) (body, chain []byte, root *x509.Certificate, err error) {
	h, body, err := fetchItem(ctx, g, u)
	if err != nil {
		return nil, nil, nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %s: not a JSON object: %w", ErrFetch, u, err)
	}
	if _, ok := top[member]; !ok {
		return nil, nil, nil, fmt.Errorf("%w: %s: no %q member: %w", ErrFetch, u, member, ErrCollateralMissing)
	}
	chain, root, err = issuerChain(u, h, chainHeader)
	if err != nil {
		return nil, nil, nil, err
	}
	return body, chain, root, nil
}

// issuerChain decodes a PCS issuer-chain header exactly as go-tdx-guest does
// (one value, url.QueryUnescape, two PEM certificates: signer then root) and
// returns the PEM and the root certificate.
func issuerChain(u string, h http.Header, name string) ([]byte, *x509.Certificate, error) {
	vals := h.Values(name)
	if len(vals) != 1 || vals[0] == "" {
		return nil, nil, fmt.Errorf("%w: %s: want one %s header, found %d: %w", ErrFetch, u, name, len(vals), ErrCollateralMissing)
	}
	if len(vals[0]) > MaxCollateralItem {
		return nil, nil, fmt.Errorf("%w: %s: %s header: %w", ErrFetch, u, name, ErrCollateralTooLarge)
	}
	pemChain, err := url.QueryUnescape(vals[0])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %s header: %w", ErrFetch, u, name, err)
	}
	certs, err := parsePEMCerts([]byte(pemChain), 2)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %s header: %w", ErrFetch, u, name, err)
	}
	return []byte(pemChain), certs[1], nil
}

// fetchRootCRL tries each CRL distribution point of root in order, as
// go-tdx-guest does, and returns the first body that parses as a CRL.
func fetchRootCRL(ctx context.Context, g trust.HTTPSGetter, root *x509.Certificate) ([]byte, error) {
	if len(root.CRLDistributionPoints) == 0 {
		return nil, fmt.Errorf("%w: root CA %q has no CRL distribution point: %w", ErrFetch, root.Subject.CommonName, ErrCollateralMissing)
	}
	var errs []error
	for _, u := range root.CRLDistributionPoints {
		_, body, err := fetchItem(ctx, g, u)
		if err == nil {
			if _, perr := x509.ParseRevocationList(body); perr != nil {
				err = fmt.Errorf("%w: %s: not a DER CRL: %w", ErrFetch, u, perr)
			}
		}
		if err == nil {
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("root CA CRL: %w", errors.Join(errs...))
}

// FMSPCOf returns the FMSPC (lower-case hex) in the SGX extension of a quote's
// PCK certificate, without verifying anything: it only tells which collateral
// to fetch. Errors are *check.Error (tdx.decode, or tdx.chain for a PCK
// certificate without a usable SGX extension).
func FMSPCOf(quote []byte) (string, error) {
	v, err := parseQuote(quote)
	if err != nil {
		return "", err
	}
	certs, err := parseChain(v.pckChain)
	if err != nil {
		return "", err
	}
	exts, err := pcs.PckCertificateExtensions(certs[0])
	if err != nil {
		return "", check.Wrap(platform, check.Chain, err, "PCK certificate SGX extension")
	}
	return strings.ToLower(exts.FMSPC), nil
}
