// Package snp obtains SEV-SNP attestation reports inside an SEV-SNP guest
// (configfs-tsm or /dev/sev-guest). It is the guest side only: verification
// lives in evidence/snp, which does not link the guest device clients. Only
// the binaries (cmd/..., internal/server's attester selection) import it.
package snp

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/report"

	"github.com/seatrx/seatrx/evidence/snp"
)

// ErrNoSNP is returned by OpenAttester when this machine offers no usable
// SEV-SNP guest interface (neither configfs-tsm with provider sev_guest nor
// /dev/sev-guest).
var ErrNoSNP = errors.New("snp: no SEV-SNP guest interface (configfs-tsm provider sev_guest or /dev/sev-guest)")

// tsmProvider is the configfs-tsm provider name of the SEV-SNP guest driver.
const tsmProvider = "sev_guest"

// rawQuoter is the ioctl path: it returns report || cert table.
type rawQuoter interface {
	GetRawQuote(reportData [64]byte) ([]byte, error)
}

// Attester produces SEV-SNP extended reports (report plus GHCB certificate
// table, so the verifier needs no network) inside an SNP guest. It prefers
// configfs-tsm (/sys/kernel/config/tsm/report); the /dev/sev-guest ioctl
// fallback goes through go-sev-guest's client package, which registers global
// flags (sev_guest_device_path, self_throttle_duration, self_throttle_burst,
// default_vmpl) and throttles itself to one request per 2 s by default.
// Quote calls are serialised; an Attester is safe for concurrent use.
type Attester struct {
	mu    sync.Mutex
	tsm   configfsi.Client
	ioctl rawQuoter
}

// Path returns which interface the Attester uses: "configfs-tsm" or "/dev/sev-guest".
func (a *Attester) Path() string {
	if a.tsm != nil {
		return "configfs-tsm"
	}
	return "/dev/sev-guest"
}

// openAttester chooses configfs-tsm (if its provider is sev_guest) and then
// the ioctl device; both openers are parameters so tests can use fakes.
func openAttester(openTSM func() (configfsi.Client, error), openIoctl func() (rawQuoter, error)) (*Attester, error) {
	c, err := openTSM()
	if err == nil {
		err = checkProvider(c)
		if err == nil {
			return &Attester{tsm: c}, nil
		}
	}
	tsmErr := err
	q, err := openIoctl()
	if err == nil {
		return &Attester{ioctl: q}, nil
	}
	return nil, fmt.Errorf("%w: configfs-tsm: %v; ioctl: %v", ErrNoSNP, tsmErr, err)
}

// checkProvider creates a report entry, reads its provider and removes it.
func checkProvider(c configfsi.Client) (err error) {
	r, err := report.Create(c, &report.Request{})
	if err != nil {
		return fmt.Errorf("create report entry: %w", err)
	}
	defer func() { err = errors.Join(err, r.Destroy()) }()
	p, err := r.ReadOption("provider")
	if err != nil {
		return fmt.Errorf("read provider: %w", err)
	}
	if got := strings.TrimSpace(string(p)); got != tsmProvider {
		return fmt.Errorf("provider is %q, not %q", got, tsmProvider)
	}
	return nil
}

// Quote returns a fresh attestation report carrying reportData and the
// host-provided certificate table (VCEK, ASK, ARK; may be empty if the host
// supplies none). It checks the output's size and that the report echoes
// reportData, so a misbehaving driver cannot hand back a stale report.
func (a *Attester) Quote(reportData [64]byte) (rep, certTable []byte, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tsm != nil {
		resp, err := report.Get(a.tsm, &report.Request{InBlob: reportData[:], GetAuxBlob: true})
		if err != nil {
			return nil, nil, fmt.Errorf("snp: configfs-tsm report: %w", err)
		}
		if got := strings.TrimSpace(resp.Provider); got != tsmProvider {
			return nil, nil, fmt.Errorf("snp: configfs-tsm provider changed to %q", got)
		}
		rep, certTable = resp.OutBlob, resp.AuxBlob
	} else {
		raw, err := a.ioctl.GetRawQuote(reportData)
		if err != nil {
			return nil, nil, fmt.Errorf("snp: /dev/sev-guest extended report: %w", err)
		}
		if len(raw) < snp.ReportSize {
			return nil, nil, fmt.Errorf("snp: /dev/sev-guest returned %d bytes, want at least %d", len(raw), snp.ReportSize)
		}
		rep, certTable = raw[:snp.ReportSize:snp.ReportSize], raw[snp.ReportSize:]
	}
	if len(rep) != snp.ReportSize {
		return nil, nil, fmt.Errorf("snp: report is %d bytes, want %d", len(rep), snp.ReportSize)
	}
	if len(certTable) > snp.MaxCertTableSize {
		return nil, nil, fmt.Errorf("snp: cert table is %d bytes, over the %d-byte limit", len(certTable), snp.MaxCertTableSize)
	}
	if got, ok := snp.UnverifiedReportData(rep); !ok || got != reportData {
		return nil, nil, errors.New("snp: report does not carry the requested REPORT_DATA")
	}
	return rep, certTable, nil
}
