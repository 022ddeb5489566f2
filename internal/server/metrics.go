package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/seatrx/seatrx/internal/buildinfo"
)

// metrics are the server's Prometheus metrics, on a registry of its own so
// that several servers (tests, the demo) can live in one process.
type metrics struct {
	reg          *prometheus.Registry
	attestations *prometheus.CounterVec
	receipts     prometheus.Counter
	credentials  prometheus.Counter
	// credentialRefusals counts refused credential requests by code.
	credentialRefusals *prometheus.CounterVec
	redemptions        *prometheus.CounterVec
	attestDur          prometheus.Histogram
	receiptDur         prometheus.Histogram
	// authorizations counts authorizations by how they stand: pending
	// (created to wait), completed, denied.
	authorizations *prometheus.CounterVec
	// decisions counts approvers' decisions: approve, deny, or the refusal's code.
	decisions *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		attestations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seatrx_attestations_total", Help: "Peer attestations by result (ok, refused), reason code and model.",
		}, []string{"result", "reason", "model"}),
		receipts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seatrx_receipts_issued_total", Help: "Receipts issued (durably stored before returned).",
		}),
		credentials: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seatrx_credentials_issued_total", Help: "X.509-SVIDs issued to attested workloads.",
		}),
		credentialRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seatrx_credential_refusals_total", Help: "Credential requests refused, by code.",
		}, []string{"code"}),
		redemptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seatrx_token_redemptions_total", Help: "Execution-token redemptions by result.",
		}, []string{"result"}),
		attestDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "seatrx_attestation_duration_seconds", Help: "Time to check one authenticator with its evidence.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		receiptDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "seatrx_receipt_issue_duration_seconds", Help: "Time to issue and durably store one receipt.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	m.authorizations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "seatrx_authorizations_total", Help: "Authorizations created pending, completed (receipt issued) and denied.",
	}, []string{"state"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "seatrx_authorization_decisions_total", Help: "Approvers' decisions accepted (approve, deny) or refused (by code).",
	}, []string{"result"})
	bi := buildinfo.Read()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "seatrx_build_info", Help: "Always 1; the labels say which build of seatrx-server runs.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.RevisionString(), "goversion": bi.GoVersion},
	})
	build.Set(1)
	m.reg.MustRegister(build, m.attestations, m.receipts, m.credentials, m.credentialRefusals, m.redemptions, m.attestDur, m.receiptDur,
		m.authorizations, m.decisions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
