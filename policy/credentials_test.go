package policy

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/credential"
)

var (
	snpM = strings.Repeat("ab", 48)
	snpH = strings.Repeat("cd", 32)
	tdxM = strings.Repeat("11", 48)
)

const credHead = "id: c\nsnp: {}\ntdx: {}\n"

func credPolicy(body string) string { return credHead + "credentials:\n" + body }

func snpWorkload(name string) string {
	return "  - name: " + name + "\n    platform: sev-snp\n    measurements: {measurement: \"" + snpM + "\", host_data: \"" + snpH + "\"}\n"
}

func TestCredentialsParse(t *testing.T) {
	p, err := Parse([]byte(credPolicy("  trust_domain: example.org\n  workloads:\n"+snpWorkload("payments/api"))), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := p.Credentials
	if c.Lifetime.D() != credential.DefaultLifetime {
		t.Errorf("default lifetime %v", c.Lifetime)
	}
	m := map[string]string{"measurement": snpM, "host_data": snpH}
	get := func(n string) ([]byte, bool) {
		v, ok := m[n]
		b, _ := hex.DecodeString(v)
		return b, ok
	}
	w, ok := c.Workload("sev-snp", get)
	if !ok || w.Name != "payments/api" {
		t.Fatalf("lookup: %v %v", w, ok)
	}
	id, err := w.SPIFFEID(c.TrustDomain)
	if err != nil || id.String() != "spiffe://example.org/payments/api" {
		t.Fatalf("SPIFFE ID %v %v", id, err)
	}
	m["host_data"] = strings.Repeat("00", 32)
	if _, ok := c.Workload("sev-snp", get); ok {
		t.Error("another host_data matched")
	}
	if _, ok := c.Workload("tdx", get); ok {
		t.Error("another platform matched")
	}
	// A policy without the section issues nothing and keeps its digest form.
	q, err := Parse([]byte(credHead), "n.yaml")
	if err != nil || q.Credentials != nil {
		t.Fatalf("%v %v", q, err)
	}
}

func TestCredentialsMalformed(t *testing.T) {
	tdx := func(extra string) string {
		s := "  - name: t\n    platform: tdx\n    measurements: {mrtd: \"" + tdxM + "\""
		for _, r := range []string{"rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrconfigid"} {
			s += ", " + r + ": \"" + tdxM + "\""
		}
		return s + extra + "}\n"
	}
	good := "  trust_domain: example.org\n  workloads:\n"
	for _, c := range []struct{ name, body, key string }{
		{"no trust domain", "  workloads:\n" + snpWorkload("a"), "credentials.trust_domain"},
		{"trust domain as URI", "  trust_domain: spiffe://example.org\n  workloads:\n" + snpWorkload("a"), "credentials.trust_domain"},
		{"upper-case trust domain", "  trust_domain: Example.org\n  workloads:\n" + snpWorkload("a"), "credentials.trust_domain"},
		{"lifetime too short", "  trust_domain: example.org\n  lifetime: 30s\n  workloads:\n" + snpWorkload("a"), "credentials.lifetime"},
		{"lifetime too long", "  trust_domain: example.org\n  lifetime: 25h\n  workloads:\n" + snpWorkload("a"), "credentials.lifetime"},
		{"bad lifetime", "  trust_domain: example.org\n  lifetime: soon\n  workloads:\n" + snpWorkload("a"), "credentials.lifetime"},
		{"no workloads", "  trust_domain: example.org\n", "credentials.workloads"},
		{"empty name", good + snpWorkload(`""`), "credentials.workloads[0].name"},
		{"leading slash", good + snpWorkload("/a"), "credentials.workloads[0].name"},
		{"dot segment", good + snpWorkload("a/../b"), "credentials.workloads[0].name"},
		{"bad character", good + snpWorkload(`"a b"`), "credentials.workloads[0].name"},
		{"trailing slash", good + snpWorkload("a/"), "credentials.workloads[0].name"},
		{"unknown platform", good + "  - name: a\n    platform: sgx\n    measurements: {}\n", "credentials.workloads[0].platform"},
		{"missing host_data", good + "  - name: a\n    platform: sev-snp\n    measurements: {measurement: \"" + snpM + "\"}\n", "credentials.workloads[0].measurements.host_data"},
		{"short measurement", good + "  - name: a\n    platform: sev-snp\n    measurements: {measurement: \"abcd\", host_data: \"" + snpH + "\"}\n", "credentials.workloads[0].measurements.measurement"},
		{"not hex", good + "  - name: a\n    platform: sev-snp\n    measurements: {measurement: \"" + strings.Repeat("zz", 48) + "\", host_data: \"" + snpH + "\"}\n", "credentials.workloads[0].measurements.measurement"},
		{"extra measurement", good + tdx(", mrowner: \""+tdxM+"\""), "credentials.workloads[0].measurements.mrowner"},
		{"tdx missing rtmr", good + "  - name: t\n    platform: tdx\n    measurements: {mrtd: \"" + tdxM + "\"}\n", "credentials.workloads[0].measurements.rtmr0"},
		{"duplicate reference", good + snpWorkload("a") + snpWorkload("b"), "credentials.workloads[1].measurements"},
		{"duplicate reference, other case", good + snpWorkload("a") + "  - name: b\n    platform: sev-snp\n    measurements: {measurement: \"" + strings.ToUpper(snpM) + "\", host_data: \"" + snpH + "\"}\n", "credentials.workloads[1].measurements"},
		{"unknown key", good + snpWorkload("a") + "  issuer: x\n", "credentials.issuer"},
		{"unknown workload key", good + "  - name: a\n    spiffe_id: x\n", "credentials.workloads[0].spiffe_id"},
		{"duplicate YAML key", good + "  - name: a\n    platform: sev-snp\n    measurements: {measurement: \"" + snpM + "\", measurement: \"" + snpM + "\", host_data: \"" + snpH + "\"}\n", ""},
		{"measurements not a map", good + "  - name: a\n    platform: sev-snp\n    measurements: [1]\n", "credentials.workloads[0].measurements[0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(credPolicy(c.body)), "c.yaml")
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v, want a policy error", err)
			}
			if c.key != "" && pe.Key != c.key {
				t.Fatalf("key %q (%v), want %q", pe.Key, err, c.key)
			}
		})
	}
	// Several entries may name one workload (two builds), and a TDX entry
	// with every identifying register is accepted.
	if _, err := Parse([]byte(credPolicy(good+snpWorkload("a")+tdx("")+"  - name: a\n    platform: sev-snp\n    measurements: {measurement: \""+snpM+"\", host_data: \""+strings.Repeat("ee", 32)+"\"}\n")), "ok.yaml"); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseCredentials feeds arbitrary credentials sections through the
// policy parser: each is refused with a typed error or accepted whole, and
// an accepted mapping finds each of its own entries.
func FuzzParseCredentials(f *testing.F) {
	f.Add("  trust_domain: example.org\n  workloads:\n" + snpWorkload("payments/api"))
	f.Add("  trust_domain: example.org\n  lifetime: 2h\n  workloads:\n" + snpWorkload("a") + snpWorkload("b"))
	f.Add("  trust_domain: x\n  workloads: []\n")
	f.Fuzz(func(t *testing.T, body string) {
		p, err := Parse([]byte(credPolicy(body)), "fuzz.yaml")
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		c := p.Credentials
		if c == nil {
			return
		}
		for i, w := range c.Workloads {
			got, ok := c.Workload(w.Platform, func(n string) ([]byte, bool) {
				v, ok := w.Measurements[n]
				b, _ := hex.DecodeString(v)
				return b, ok
			})
			if !ok || got.Name != w.Name {
				t.Fatalf("entry %d does not find itself: %v %v", i, got, ok)
			}
			if _, err := w.SPIFFEID(c.TrustDomain); err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
		}
	})
}
