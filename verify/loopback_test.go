package verify_test

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/tlsbind"
)

// issueOnLoopback runs a dev server (simulated TEEs) on a loopback port, has
// a simulated TDX guest attest to it and obtain a receipt, and returns what
// the client saved: the bundle, the server's keys document, and the
// simulated PKI the dev server published (loaded with sim.Load). The server
// and its data directory are gone when it returns.
func issueOnLoopback() (bundle, keysDoc []byte, pki *sim.PKI) {
	data, err := os.MkdirTemp("", "seatrx-verify-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(data)
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: data, Dev: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}()
	dev := server.DevDir(data)
	cas, err := keyfile.LoadCertificates(filepath.Join(dev, "ca.pem"))
	if err != nil {
		panic(err)
	}
	roots := x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	pki, err = sim.Load(filepath.Join(dev, "sim-pki"))
	if err != nil {
		panic(err)
	}
	att, err := server.NewAttester("sim-tdx", pki)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := client.Run(ctx, client.Flow{Server: "https://" + addr.String(), Roots: roots, Prover: &tlsbind.Prover{Attester: att},
		Requested: map[string]any{"op": "release-model-weights"}, AllowSimulated: true, SimulatedPKI: pki})
	if err != nil {
		panic(err)
	}
	return o.Receipt.Bundle, o.KeysDoc, pki
}
