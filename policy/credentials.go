package policy

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seatrx/seatrx/credential"
	"github.com/seatrx/seatrx/evidence"
)

// maxWorkloads bounds the workload mapping.
const maxWorkloads = 1024

// Credentials configures X.509-SVID issuance (POST /v1/credentials): the
// trust domain, the SVIDs' lifetime, and the explicit mapping from
// reference values to workload names. Without it no credential is issued.
type Credentials struct {
	// TrustDomain is the SPIFFE trust domain, e.g. "example.org" (a bare
	// name: lowercase letters, digits, ".", "-", "_").
	TrustDomain string `yaml:"trust_domain" json:"trust_domain" cbor:"trust_domain"`
	// Lifetime of an SVID, credential.MinLifetime..credential.MaxLifetime;
	// default credential.DefaultLifetime (1h). An SVID never outlives the
	// attestation result's validity either.
	Lifetime Duration `yaml:"lifetime" json:"lifetime" cbor:"lifetime"`
	// Workloads map reference values to workload names; an attested
	// workload that matches none gets no credential (no default name).
	Workloads []Workload `yaml:"workloads" json:"workloads" cbor:"workloads"`
}

// Workload maps one set of reference values to a workload name.
type Workload struct {
	// Name is the SPIFFE ID's path without its leading "/", e.g.
	// "payments/api" for spiffe://<trust_domain>/payments/api: the
	// workload's stable identifier. Several entries may share a name (one
	// workload, several builds or platforms).
	Name string `yaml:"name" json:"name" cbor:"name"`
	// Platform is "sev-snp" or "tdx" (the EAR's submodule name).
	Platform string `yaml:"platform" json:"platform" cbor:"platform"`
	// Measurements are the platform's identifying measurements, lowercase
	// hex, all of them and nothing else (evidence.IdentityMeasurements):
	// sev-snp measurement and host_data; tdx mrtd, rtmr0..rtmr3 and
	// mrconfigid. Upper-case hex is accepted and stored lowercase.
	Measurements map[string]string `yaml:"measurements" json:"measurements" cbor:"measurements"`
}

// applyDefaults fills the lifetime and lowercases the hex (so the canonical
// form, and the policy digest, do not depend on how it was spelt).
func (c *Credentials) applyDefaults() {
	if c.Lifetime == 0 {
		c.Lifetime = Duration(credential.DefaultLifetime)
	}
	for i := range c.Workloads {
		for k, v := range c.Workloads[i].Measurements {
			c.Workloads[i].Measurements[k] = strings.ToLower(v)
		}
	}
}

func (c *Credentials) validate() error {
	td, err := spiffeid.TrustDomainFromString(c.TrustDomain)
	if err != nil || td.Name() != c.TrustDomain {
		return keyErr("credentials.trust_domain", "%q is not a SPIFFE trust domain name (e.g. example.org: lowercase letters, digits, '.', '-', '_')", c.TrustDomain)
	}
	if l := time.Duration(c.Lifetime); l < credential.MinLifetime || l > credential.MaxLifetime {
		return keyErr("credentials.lifetime", "%v outside %v..%v", l, credential.MinLifetime, credential.MaxLifetime)
	}
	if len(c.Workloads) == 0 {
		return keyErr("credentials.workloads", "at least one workload is required: without a mapping no workload gets a credential")
	}
	if len(c.Workloads) > maxWorkloads {
		return keyErr("credentials.workloads", "%d entries, max %d", len(c.Workloads), maxWorkloads)
	}
	seen := map[string]int{}
	for i, w := range c.Workloads {
		key := fmt.Sprintf("credentials.workloads[%d]", i)
		if w.Name == "" || strings.HasPrefix(w.Name, "/") {
			return keyErr(key+".name", "%q: want the SPIFFE ID path without its leading '/', e.g. payments/api", w.Name)
		}
		if len(w.Name) > maxIDLen {
			return keyErr(key+".name", "longer than %d bytes", maxIDLen)
		}
		if _, err := spiffeid.FromPath(td, "/"+w.Name); err != nil {
			return keyErr(key+".name", "%q is not a SPIFFE ID path: %v", w.Name, err)
		}
		names, ok := evidence.IdentityMeasurements(evidence.Platform(w.Platform))
		if !ok {
			return keyErr(key+".platform", "%q: want %s or %s", w.Platform, evidence.PlatformSNP, evidence.PlatformTDX)
		}
		var want []string
		for _, n := range names {
			want = append(want, n.Name)
			v, ok := w.Measurements[n.Name]
			if !ok {
				return keyErr(key+".measurements."+n.Name, "required: a %s workload is identified by %s", w.Platform, strings.Join(nameList(names), ", "))
			}
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != n.Size {
				return keyErr(key+".measurements."+n.Name, "want %d bytes as %d hex digits", n.Size, 2*n.Size)
			}
		}
		for k := range w.Measurements {
			if !slices.Contains(want, k) {
				return keyErr(key+".measurements."+k, "not an identifying %s measurement (want exactly %s)", w.Platform, strings.Join(want, ", "))
			}
		}
		ref := w.reference()
		if j, dup := seen[ref]; dup {
			return keyErr(key+".measurements", "the same reference values as credentials.workloads[%d]: one workload must map to one name", j)
		}
		seen[ref] = i
	}
	return nil
}

func nameList(ns []evidence.MeasurementName) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

// reference is the entry's platform and measurements as one string, in the
// platform's order (lowercase hex).
func (w *Workload) reference() string {
	names, _ := evidence.IdentityMeasurements(evidence.Platform(w.Platform))
	var b strings.Builder
	b.WriteString(w.Platform)
	for _, n := range names {
		b.WriteString("|" + strings.ToLower(w.Measurements[n.Name]))
	}
	return b.String()
}

// Workload returns the entry whose reference values the attested workload
// has, given its platform and its measurements by name; false if none
// matches. Entries are unique per reference values (Validate), so at most
// one does.
func (c *Credentials) Workload(platform string, measurement func(name string) ([]byte, bool)) (*Workload, bool) {
	names, ok := evidence.IdentityMeasurements(evidence.Platform(platform))
	if !ok {
		return nil, false
	}
	var b strings.Builder
	b.WriteString(platform)
	for _, n := range names {
		v, ok := measurement(n.Name)
		if !ok {
			return nil, false
		}
		b.WriteString("|" + hex.EncodeToString(v))
	}
	ref := b.String()
	for i := range c.Workloads {
		if c.Workloads[i].Platform == platform && c.Workloads[i].reference() == ref {
			return &c.Workloads[i], true
		}
	}
	return nil, false
}

// SPIFFEID returns the workload's SPIFFE ID in trust domain td.
func (w *Workload) SPIFFEID(td string) (spiffeid.ID, error) {
	t, err := spiffeid.TrustDomainFromString(td)
	if err != nil {
		return spiffeid.ID{}, err
	}
	return spiffeid.FromPath(t, "/"+w.Name)
}
