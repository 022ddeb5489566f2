package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seatrx/seatrx/tlsbind"
)

// The server metrics a run reads before and after each measurement: the
// process's CPU time (user + system, from the server's own Prometheus
// process collector) and the Go runtime's cumulative heap allocation.
const (
	metricCPU     = "process_cpu_seconds_total"
	metricAlloc   = "go_memstats_alloc_bytes_total"
	metricMallocs = "go_memstats_mallocs_total"
)

// maxMetricsBody bounds a /metrics response.
const maxMetricsBody = 4 << 20

// serverStats is one reading of the server's counters; hasAlloc is false
// when the server exports no Go allocation counters.
type serverStats struct {
	cpu, alloc, mallocs float64
	hasAlloc            bool
	rss                 float64 // 0: not exported
}

// scraper reads the server's metrics over one kept-alive connection.
type scraper struct {
	url    string
	client *http.Client
}

func newScraper(u *url.URL, roots *x509.CertPool) *scraper {
	tc := tlsbind.ClientConfig(roots, u.Hostname())
	tc.NextProtos = []string{"http/1.1"} // this transport speaks HTTP/1.1 on its custom TLS config
	tr := &http.Transport{TLSClientConfig: tc, MaxIdleConns: 1, IdleConnTimeout: time.Minute}
	return &scraper{url: u.String(), client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (s *scraper) read(ctx context.Context) (serverStats, error) {
	var st serverStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return st, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return st, fmt.Errorf("bench: read the server's metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetricsBody+1))
	if err != nil {
		return st, fmt.Errorf("bench: read the server's metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("bench: read the server's metrics: %s answered HTTP %d", s.url, resp.StatusCode)
	}
	if len(body) > maxMetricsBody {
		return st, fmt.Errorf("bench: read the server's metrics: more than %d bytes", maxMetricsBody)
	}
	vals := parseMetrics(body, metricCPU, metricAlloc, metricMallocs, metricRSS)
	cpu, ok := vals[metricCPU]
	if !ok {
		return st, fmt.Errorf("bench: %s has no %s: is it a seatrx server's metrics?", s.url, metricCPU)
	}
	st.cpu = cpu
	st.alloc, st.hasAlloc = vals[metricAlloc]
	st.mallocs = vals[metricMallocs]
	st.rss = vals[metricRSS]
	return st, nil
}

// parseMetrics returns the values of the named unlabelled samples of a
// Prometheus text exposition; other lines are skipped.
func parseMetrics(body []byte, names ...string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		for _, n := range names {
			if name == n {
				v, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // drop an optional timestamp
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					out[n] = f
				}
			}
		}
	}
	return out
}
