//go:build linux

package snp

import (
	"github.com/google/go-configfs-tsm/configfs/linuxtsm"
	"github.com/google/go-sev-guest/client"
)

// OpenAttester opens the SEV-SNP guest interface: configfs-tsm when its
// provider is sev_guest, else /dev/sev-guest. Without either it returns an
// error wrapping ErrNoSNP that says why each path failed.
func OpenAttester() (*Attester, error) {
	return openAttester(linuxtsm.MakeClient, openIoctl)
}

func openIoctl() (rawQuoter, error) {
	d, err := client.OpenDevice()
	if err != nil {
		return nil, err
	}
	if err := d.Close(); err != nil {
		return nil, err
	}
	return &client.LinuxIoctlQuoteProvider{}, nil
}
