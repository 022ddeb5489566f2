package credential

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"
)

// InBundle reports whether a CA certificate belongs in the trust bundle at
// now: its certificate has not expired, and its key is current or was
// retired (keyNotAfter) less than MaxLifetime ago, so that SVIDs it signed
// may still be valid. A key retired longer ago can have no valid SVID left.
func InBundle(ca *x509.Certificate, keyNotAfter *time.Time, now time.Time) bool {
	if !now.Before(ca.NotAfter) {
		return false
	}
	return keyNotAfter == nil || now.Before(keyNotAfter.Add(MaxLifetime))
}

// BundleJWKS renders CA certificates as a SPIFFE bundle (the SPIFFE Trust
// Domain and Bundle specification): a JWK Set with one entry per CA,
// "use": "x509-svid", its certificate alone in "x5c" and no "kid" (X509-SVID
// §6.1), and "spiffe_refresh_hint" in seconds.
func BundleJWKS(cas []*x509.Certificate, refreshHint time.Duration) ([]byte, error) {
	type jwk map[string]any
	doc := struct {
		Keys        []jwk `json:"keys"`
		RefreshHint int64 `json:"spiffe_refresh_hint"`
	}{Keys: []jwk{}, RefreshHint: int64((refreshHint + time.Second - 1) / time.Second)}
	b64 := base64.RawURLEncoding.EncodeToString
	for _, c := range cas {
		k := jwk{"use": "x509-svid", "x5c": []string{base64.StdEncoding.EncodeToString(c.Raw)}}
		switch pub := c.PublicKey.(type) {
		case *ecdsa.PublicKey:
			pt, err := pub.Bytes()
			if err != nil {
				return nil, fmt.Errorf("credential: bundle: %w", err)
			}
			n := (len(pt) - 1) / 2
			crv, ok := map[int]string{32: "P-256", 48: "P-384", 66: "P-521"}[n]
			if !ok {
				return nil, fmt.Errorf("credential: bundle: ECDSA key of %d-byte coordinates", n)
			}
			k["kty"], k["crv"], k["x"], k["y"] = "EC", crv, b64(pt[1:1+n]), b64(pt[1+n:])
		case ed25519.PublicKey:
			k["kty"], k["crv"], k["x"] = "OKP", "Ed25519", b64(pub)
		default:
			return nil, fmt.Errorf("credential: bundle: CA key type %T has no JWK here", c.PublicKey)
		}
		doc.Keys = append(doc.Keys, k)
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// BundlePEM renders CA certificates as concatenated PEM CERTIFICATE blocks
// (what `openssl verify -CAfile` reads).
func BundlePEM(cas []*x509.Certificate) []byte {
	var out []byte
	for _, c := range cas {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// ChainPEM renders an issued SVID (and any intermediates after it) as the
// PEM certificate chain the server returns.
func ChainPEM(chain ...*x509.Certificate) []byte { return BundlePEM(chain) }
