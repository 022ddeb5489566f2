package bench

import (
	"math"
	"time"
)

// histogram records durations in logarithmic buckets 1% wide, so a run of
// any length keeps a fixed amount of memory (about 20 KB per phase) and its
// percentiles are within 1% of the exact values. The maximum is kept exactly.
type histogram struct {
	counts []uint64
	n      uint64
	max    time.Duration
}

// histGrowth is the ratio between the bounds of consecutive buckets.
const histGrowth = 1.01

// histBuckets covers 1 µs (bucket 0 holds everything below) to about 20 min.
const histBuckets = 2100

var logGrowth = math.Log(histGrowth)

func newHistogram() *histogram { return &histogram{counts: make([]uint64, histBuckets)} }

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	return min(int(math.Log(us)/logGrowth)+1, histBuckets-1)
}

// upper is the upper bound of bucket i.
func upper(i int) time.Duration {
	return time.Duration(math.Pow(histGrowth, float64(i)) * float64(time.Microsecond))
}

func (h *histogram) add(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q <= 1): the upper bound of the
// bucket holding it, never more than the maximum. Zero when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(upper(i), h.max)
		}
	}
	return h.max
}
