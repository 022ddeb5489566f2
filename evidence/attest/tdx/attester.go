// Package tdx obtains TDX quotes inside a TD (configfs-tsm or
// /dev/tdx_guest). It is the guest side only: verification lives in
// evidence/tdx, which does not link the guest device clients. Only the
// binaries (cmd/..., internal/server's attester selection) import it.
package tdx

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/linuxtsm"
	"github.com/google/go-configfs-tsm/report"
	"github.com/google/go-tdx-guest/client"

	"github.com/seatrx/seatrx/evidence/tdx"
)

// tsmProviderTDX is the configfs-tsm provider name of the Linux TDX guest driver.
const tsmProviderTDX = "tdx_guest"

// ErrNoTDX is wrapped by OpenAttester when this machine offers neither
// configfs-tsm nor /dev/tdx_guest, i.e. it is not a TDX guest.
var ErrNoTDX = errors.New("tdx: not a TDX guest: neither configfs-tsm (/sys/kernel/config/tsm/report) nor /dev/tdx_guest is available")

// ErrWrongProvider is wrapped when configfs-tsm answers with another TEE's
// provider (e.g. sev_guest): go-tdx-guest would pass that report off as a quote.
var ErrWrongProvider = errors.New("tdx: configfs-tsm provider is not tdx_guest")

// Attester obtains TDX quotes inside a TD, preferring configfs-tsm (checking
// that the provider is tdx_guest) and falling back to /dev/tdx_guest.
type Attester struct {
	tsm    configfsi.Client // nil when using the device
	device client.Device
}

// OpenAttester opens the quote source of this TD, or fails with ErrNoTDX.
func OpenAttester() (*Attester, error) {
	if c, err := linuxtsm.MakeClient(); err == nil {
		return &Attester{tsm: c}, nil
	}
	d, err := client.OpenDevice()
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNoTDX, err)
	}
	return &Attester{device: d}, nil
}

// Quote returns a raw TDX quote (v4 on current hosts) whose REPORTDATA is reportData.
func (a *Attester) Quote(reportData [64]byte) ([]byte, error) {
	if a.tsm != nil {
		return quoteViaTSM(a.tsm, reportData)
	}
	if a.device == nil {
		return nil, ErrNoTDX
	}
	q, err := client.GetRawQuote(a.device, reportData)
	if err != nil {
		return nil, fmt.Errorf("tdx: quote via /dev/tdx_guest: %w", err)
	}
	return q, nil
}

// Close releases the device, if one is open.
func (a *Attester) Close() error {
	if a.device != nil {
		return a.device.Close()
	}
	return nil
}

func quoteViaTSM(c configfsi.Client, reportData [64]byte) ([]byte, error) {
	resp, err := report.Get(c, &report.Request{InBlob: reportData[:]})
	if err != nil {
		return nil, fmt.Errorf("tdx: quote via configfs-tsm: %w", err)
	}
	// The kernel's provider attribute ends in a newline.
	if strings.TrimSpace(resp.Provider) != tsmProviderTDX {
		return nil, fmt.Errorf("%w: got %q", ErrWrongProvider, resp.Provider)
	}
	if len(resp.OutBlob) == 0 || len(resp.OutBlob) > tdx.MaxQuoteSize {
		return nil, fmt.Errorf("tdx: quote via configfs-tsm: %d-byte outblob", len(resp.OutBlob))
	}
	return resp.OutBlob, nil
}
