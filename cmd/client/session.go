package main

import (
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/seatrx/seatrx/internal/client"
)

// printSession prints a short human summary of one attested session.
func printSession(w io.Writer, o *client.Outcome) {
	if d := o.DTLS; d != nil {
		fmt.Fprintf(w, "  DTLS %s, %s, full handshake; messages sent %d, received %d, retransmitted %d\n", d.Version, tls.CipherSuiteName(d.Suite), o.Stats.Sent, o.Stats.Received, o.Stats.Retransmitted)
	} else {
		fmt.Fprintf(w, "  TLS %s, %s, ALPN %s, resumed=%v\n", tlsVersion(o.TLS.Version), tls.CipherSuiteName(o.TLS.CipherSuite), o.TLS.NegotiatedProtocol, o.TLS.DidResume)
	}
	if s := o.Server; s != nil {
		a := s.Appraisal
		fmt.Fprintf(w, "  server attested: %s evidence, status %s, simulated=%v, root %s\n", a.Platform, a.Status, a.Simulated, short(a.TrustAnchor))
		if len(a.NotEvaluated) > 0 {
			fmt.Fprintf(w, "    not evaluated: %s\n", strings.Join(a.NotEvaluated, ", "))
		}
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
	fmt.Fprintf(w, "  timings: %s\n", timings(o))
}

// timings lists the steps the session went through, in order, and its
// total; a step not taken (server attestation without --mutual) has no
// measurement and is not listed.
func timings(o *client.Outcome) string {
	t := o.Timings
	var parts []string
	for _, s := range []struct {
		name string
		d    time.Duration
	}{{"handshake", t.Handshake}, {"server attestation", t.ServerAttest}, {"challenge", t.Challenge}, {"attest", t.Attest}, {"receipt", t.Receipt},
		{"attest and receipt", t.AttestIssue}} {
		if s.d > 0 {
			parts = append(parts, s.name+" "+ms(s.d))
		}
	}
	return strings.Join(append(parts, "total "+ms(o.Total)), ", ")
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
