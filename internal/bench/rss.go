package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// metricRSS is the server's resident memory in its Prometheus process
// collector (the fallback when the bench is not given the server's pid).
const metricRSS = "process_resident_memory_bytes"

// RSSReport is the server's resident memory around the scenarios: idle
// (before they start), peak (sampled every rssEvery while they run), at the
// end of the run and, after they stop, how long it took to come back within
// twice the idle size (RecoveredSeconds; absent if it did not within
// Config.Recovery).
type RSSReport struct {
	Source           string   `json:"source"`
	IdleBytes        int64    `json:"idle_bytes"`
	PeakBytes        int64    `json:"peak_bytes"`
	AtStopBytes      int64    `json:"at_stop_bytes"`
	AfterBytes       int64    `json:"after_bytes"`
	RecoveredSeconds *float64 `json:"recovered_within_2x_idle_s,omitempty"`
	WaitedSeconds    float64  `json:"waited_s"`
}

const rssEvery = 250 * time.Millisecond

// rssReader reads the server's resident set size.
type rssReader struct {
	pid     int
	scraper *scraper
}

func (r *rssReader) source() string {
	if r.pid > 0 {
		return fmt.Sprintf("/proc/%d/status VmRSS", r.pid)
	}
	return metricRSS + " from " + r.scraper.url
}

func (r *rssReader) read(ctx context.Context) (int64, error) {
	if r.pid > 0 {
		return procRSS(r.pid)
	}
	st, err := r.scraper.read(ctx)
	if err != nil {
		return 0, err
	}
	if st.rss <= 0 {
		return 0, fmt.Errorf("bench: the server's metrics have no %s", metricRSS)
	}
	return int64(st.rss), nil
}

// procRSS reads VmRSS of process pid (Linux).
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: server RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return kb << 10, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("bench: server RSS: no VmRSS in /proc/%d/status", pid)
}

// rssPeak samples r until stopped and returns the largest reading.
func rssPeak(ctx context.Context, r *rssReader) (stop func() int64) {
	var mu sync.Mutex
	var peak int64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(rssEvery)
		defer t.Stop()
		for {
			if v, err := r.read(ctx); err == nil {
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// recover polls r every second for up to d until the server's RSS is within
// twice idle.
func (rep *RSSReport) recover(ctx context.Context, r *rssReader, d time.Duration) {
	start := time.Now()
	for {
		v, err := r.read(ctx)
		if err == nil {
			rep.AfterBytes = v
			if v <= 2*rep.IdleBytes {
				s := time.Since(start).Seconds()
				rep.RecoveredSeconds = &s
				break
			}
		}
		if time.Since(start) >= d {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	rep.WaitedSeconds = time.Since(start).Seconds()
}
