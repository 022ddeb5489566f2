package keystore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/receipt"
)

// Export formats of public keys.
const (
	FormatPEM  = "pem"  // PEM "PUBLIC KEY" blocks, each after a "# role R kid K valid FROM .. UNTIL" line
	FormatJWK  = "jwk"  // a JWK Set (RFC 7517) with kid and seatrx_role, seatrx_not_before, seatrx_not_after
	FormatCOSE = "cose" // a CBOR array of COSE_Keys (RFC 9052 §7) with kid (label 2)
)

// Formats lists the export formats.
var Formats = []string{FormatPEM, FormatJWK, FormatCOSE}

// ExportedKey is one public key to export, with its role and window.
type ExportedKey struct {
	Role  string
	Entry Entry
	Key   crypto.PublicKey
}

// Keys returns the role's history as ExportedKeys (oldest first).
func (r *Role) Keys() ([]ExportedKey, error) {
	var out []ExportedKey
	for i, e := range r.Manifest.Keys {
		pub, err := parsePublic(e.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("keystore: %s keys[%d]: %w", r.Name, i, err)
		}
		out = append(out, ExportedKey{Role: r.Name, Entry: e, Key: pub})
	}
	return out, nil
}

// Export encodes public keys in format (FormatPEM, FormatJWK, FormatCOSE).
func Export(keys []ExportedKey, format string) ([]byte, error) {
	switch format {
	case FormatPEM:
		var out []byte
		for _, k := range keys {
			der, err := x509.MarshalPKIXPublicKey(k.Key)
			if err != nil {
				return nil, err
			}
			// A comment line, not PEM headers: OpenSSL reads headers as
			// encryption parameters and refuses the block.
			until := "-"
			if k.Entry.NotAfter != nil {
				until = k.Entry.NotAfter.Format(time.RFC3339)
			}
			out = fmt.Appendf(out, "# role %s kid %s valid %s .. %s\n", k.Role, k.Entry.Kid, k.Entry.NotBefore.Format(time.RFC3339), until)
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
		}
		return out, nil
	case FormatJWK:
		set := struct {
			Keys []map[string]any `json:"keys"`
		}{Keys: []map[string]any{}}
		for _, k := range keys {
			j, err := jwk(k.Key)
			if err != nil {
				return nil, err
			}
			j["kid"] = k.Entry.Kid
			j["seatrx_role"] = k.Role
			j["seatrx_not_before"] = k.Entry.NotBefore.Unix()
			if k.Entry.NotAfter != nil {
				j["seatrx_not_after"] = k.Entry.NotAfter.Unix()
			}
			set.Keys = append(set.Keys, j)
		}
		out, err := json.MarshalIndent(set, "", "  ")
		return append(out, '\n'), err
	case FormatCOSE:
		var arr []cbor.RawMessage
		for _, k := range keys {
			ck, err := receipt.COSEKey(k.Key)
			if err != nil {
				return nil, err
			}
			var m map[int64]cbor.RawMessage
			if err := cbor.Unmarshal(ck, &m); err != nil {
				return nil, fmt.Errorf("keystore: COSE_Key: %w", err)
			}
			kid, _ := hex.DecodeString(k.Entry.Kid)
			if m[2], err = cbor.Marshal(kid); err != nil {
				return nil, err
			}
			enc, err := detEnc.Marshal(m)
			if err != nil {
				return nil, err
			}
			arr = append(arr, enc)
		}
		return detEnc.Marshal(arr)
	}
	return nil, fmt.Errorf("keystore: unknown export format %q (want pem, jwk or cose)", format)
}

var detEnc, _ = cbor.CoreDetEncOptions().EncMode()

// jwk returns the public JWK members of pub (RFC 7518 §6.2, RFC 8037).
func jwk(pub crypto.PublicKey) (map[string]any, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		pt, err := k.Bytes()
		if err != nil {
			return nil, err
		}
		n := (len(pt) - 1) / 2
		crv := map[int]string{32: "P-256", 48: "P-384", 66: "P-521"}[n]
		return map[string]any{"kty": "EC", "crv": crv, "x": b64(pt[1 : 1+n]), "y": b64(pt[1+n:])}, nil
	case ed25519.PublicKey:
		return map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(k)}, nil
	}
	return nil, fmt.Errorf("keystore: key type %T has no JWK here", pub)
}
