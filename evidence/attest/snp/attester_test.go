package snp

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/faketsm"
	"github.com/google/go-sev-guest/abi"
	"github.com/google/uuid"

	"github.com/seatrx/seatrx/evidence/snp"
)

const (
	reportDataOffset = snp.ReportDataOffset
	ReportSize       = snp.ReportSize
	MaxCertTableSize = snp.MaxCertTableSize
)

// loadSample reads the recorded report and VCEK kept beside the verifier.
func loadSample(t testing.TB) (report, vcek []byte) {
	t.Helper()
	report, err := os.ReadFile("../../snp/testdata/attestation.bin")
	if err != nil {
		t.Fatal(err)
	}
	vcek, err = os.ReadFile("../../snp/testdata/vcek.testcer")
	if err != nil {
		t.Fatal(err)
	}
	return report, vcek
}

func vcekTable(vcek []byte) []byte {
	return (&abi.CertTable{Entries: []abi.CertTableEntry{{GUID: uuid.MustParse(abi.VcekGUID), RawCert: vcek}}}).Marshal()
}

// fakeTSM is a configfs-tsm whose provider and output are ours: provider
// names the driver, outblob is a report template with the written inblob
// placed at REPORT_DATA (or a fixed blob when echo is false).
func fakeTSM(provider string, template []byte, echo bool, aux []byte) configfsi.Client {
	sub := faketsm.Report611(0)
	base, mk := sub.ReadAttr, sub.MakeEntry
	// Like the kernel, let provider be read before anything is written.
	sub.MakeEntry = func() *faketsm.ReportEntry {
		e := mk()
		e.ROAttrs = map[string][]byte{"provider": []byte(provider + "\n")}
		return e
	}
	sub.ReadAttr = func(e *faketsm.ReportEntry, attr string) ([]byte, error) {
		switch attr {
		case "provider":
			return []byte(provider + "\n"), nil
		case "auxblob":
			return aux, nil
		case "outblob":
			out := bytes.Clone(template)
			if echo {
				if in, ok := e.InAttrs["inblob"]; ok {
					copy(out[reportDataOffset:reportDataOffset+64], in.Value)
				}
			}
			return out, nil
		}
		return base(e, attr)
	}
	return &faketsm.Client{Subsystems: map[string]configfsi.Client{"report": sub}}
}

type fakeIoctl struct{ out []byte }

func (f fakeIoctl) GetRawQuote(rd [64]byte) ([]byte, error) {
	out := bytes.Clone(f.out)
	if len(out) >= ReportSize {
		copy(out[reportDataOffset:], rd[:])
	}
	return out, nil
}

var errNoDevice = errors.New("open /dev/sev-guest: no such file or directory")

func noIoctl() (rawQuoter, error) { return nil, errNoDevice }

func TestOpenAttesterNothing(t *testing.T) {
	// This machine has no SEV-SNP: the real opener must fail clearly.
	if a, err := OpenAttester(); err == nil {
		t.Skipf("running inside an SEV-SNP guest (%s); absence path not testable", a.Path())
	} else if !errors.Is(err, ErrNoSNP) {
		t.Fatalf("OpenAttester err = %v, want ErrNoSNP", err)
	}
	// A configfs-tsm of another TEE is not used.
	_, err := openAttester(func() (configfsi.Client, error) { return fakeTSM("tdx_guest", nil, false, nil), nil }, noIoctl)
	if !errors.Is(err, ErrNoSNP) || !strings.Contains(err.Error(), `provider is "tdx_guest"`) || !strings.Contains(err.Error(), "/dev/sev-guest") {
		t.Fatalf("err = %v, want ErrNoSNP naming the tdx_guest provider and the device", err)
	}
}

func TestAttesterConfigfs(t *testing.T) {
	report, vcek := loadSample(t)
	table := vcekTable(vcek)
	a, err := openAttester(func() (configfsi.Client, error) { return fakeTSM("sev_guest", report, true, table), nil }, noIoctl)
	if err != nil {
		t.Fatal(err)
	}
	if a.Path() != "configfs-tsm" {
		t.Fatalf("Path = %q", a.Path())
	}
	rd := [64]byte{0xde, 0xad, 63: 0xff}
	rep, tab, err := a.Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rep[reportDataOffset:reportDataOffset+64], rd[:]) || !bytes.Equal(tab, table) || len(rep) != ReportSize {
		t.Fatalf("Quote returned report_data %x and a %d-byte table", rep[reportDataOffset:reportDataOffset+64], len(tab))
	}

	stale, _ := openAttester(func() (configfsi.Client, error) { return fakeTSM("sev_guest", report, false, table), nil }, noIoctl)
	if _, _, err := stale.Quote(rd); err == nil || !strings.Contains(err.Error(), "requested REPORT_DATA") {
		t.Fatalf("stale report: err = %v, want a REPORT_DATA mismatch", err)
	}
	short, _ := openAttester(func() (configfsi.Client, error) { return fakeTSM("sev_guest", report[:100], false, nil), nil }, noIoctl)
	if _, _, err := short.Quote(rd); err == nil || !strings.Contains(err.Error(), "100 bytes") {
		t.Fatalf("short report: err = %v", err)
	}
	huge, _ := openAttester(func() (configfsi.Client, error) {
		return fakeTSM("sev_guest", report, true, make([]byte, MaxCertTableSize+1)), nil
	}, noIoctl)
	if _, _, err := huge.Quote(rd); err == nil || !strings.Contains(err.Error(), "cert table") {
		t.Fatalf("huge table: err = %v", err)
	}
}

func TestAttesterIoctl(t *testing.T) {
	report, vcek := loadSample(t)
	table := vcekTable(vcek)
	noTSM := func() (configfsi.Client, error) {
		return nil, errors.New("stat /sys/kernel/config/tsm/report: no such file")
	}
	a, err := openAttester(noTSM, func() (rawQuoter, error) { return fakeIoctl{append(bytes.Clone(report), table...)}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if a.Path() != "/dev/sev-guest" {
		t.Fatalf("Path = %q", a.Path())
	}
	rd := [64]byte{7}
	rep, tab, err := a.Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep) != ReportSize || !bytes.Equal(tab, table) || rep[reportDataOffset] != 7 {
		t.Fatal("ioctl output not split into report and table")
	}
	short, _ := openAttester(noTSM, func() (rawQuoter, error) { return fakeIoctl{report[:10]}, nil })
	if _, _, err := short.Quote(rd); err == nil || !strings.Contains(err.Error(), "returned 10 bytes") {
		t.Fatalf("short ioctl output: err = %v", err)
	}
}
