package main

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/seatrx/seatrx/internal/client"
)

type sessionConfig = client.Flow

func session(ctx context.Context, f sessionConfig) (*client.Outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return client.Run(ctx, f)
}

// printSession prints a short human summary of one attested session.
func printSession(w io.Writer, o *client.Outcome) {
	fmt.Fprintf(w, "  TLS %s, %s, ALPN %s, resumed=%v\n", tlsVersion(o.TLS.Version), tls.CipherSuiteName(o.TLS.CipherSuite), o.TLS.NegotiatedProtocol, o.TLS.DidResume)
	if s := o.Server; s != nil {
		a := s.Appraisal
		fmt.Fprintf(w, "  server attested: %s evidence, status %s, simulated=%v, root %s\n", a.Platform, a.Status, a.Simulated, short(a.TrustAnchor))
	}
	if o.EAR != nil {
		fmt.Fprintf(w, "  client attested: EAR %d bytes from the server\n", len(o.EAR))
	}
	if r := o.Receipt; r != nil {
		fmt.Fprintf(w, "  receipt %s issued (%d-byte bundle)\n", hex.EncodeToString(r.ReceiptID), len(r.Bundle))
	}
	if rep := o.Report; rep != nil {
		fmt.Fprintf(w, "  receipt verified offline (audit mode): ok=%v\n", rep.OK)
		for _, c := range rep.Checks {
			fmt.Fprintf(w, "    %-6s %s\n", c.Status, c.Name)
		}
	}
	if r := o.Redemption; r != nil {
		fmt.Fprintf(w, "  execution token %s redeemed at %s\n", r.TokenID, r.RedeemedAt.Format(time.RFC3339))
	}
	if o.SecondRedeem != nil {
		fmt.Fprintf(w, "  second redemption refused: %v\n", o.SecondRedeem)
	}
	t := o.Timings
	fmt.Fprintf(w, "  timings: handshake %s, server attestation %s, challenge %s, attest %s, receipt %s, total %s\n",
		ms(t.Handshake), ms(t.ServerAttest), ms(t.Challenge), ms(t.Attest), ms(t.Receipt), ms(o.Total))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

func short(fp string) string {
	if len(fp) > 23 {
		return fp[:23] + "…"
	}
	return fp
}

func tlsVersion(v uint16) string {
	if v == tls.VersionTLS13 {
		return "1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}
