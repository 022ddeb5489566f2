package main

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The server's Go memory settings. Its live heap is tens of megabytes (keys,
// caches, connections); what grows under load is short-lived garbage (a
// few hundred kilobytes per attested session), which Go's default
// collection percentage (GOGC=100: collect each time the heap doubles)
// collects many times a second. With a soft memory limit bounding the
// heap, the percentage can be raised safely: the collector runs about a
// quarter as often while memory is plentiful and works harder only as the
// heap nears the limit (Go GC guide, "Memory limit"). Measured with seatrx
// bench in README.md.
const (
	// defaultMemoryLimit is --memory-limit's default: far above the
	// server's needs, and a bound for hostile load that leaves room, under
	// 512 MB of resident memory, for what the Go runtime does not count
	// (at 512 MiB, the h2-streams scenario of seatrx bench peaked at
	// 611 MB resident).
	defaultMemoryLimit = 384 << 20
	// gcPercentWithLimit is the collection percentage under a memory limit
	// unless GOGC is set.
	gcPercentWithLimit = 400
)

// applyMemory sets the runtime's soft memory limit (limit bytes, 0: none;
// it overrides GOMEMLIMIT) and, unless GOGC is set, the collection
// percentage, and returns both as in force.
func applyMemory(limit int64) (memoryLimit int64, gcPercent int) {
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	} else {
		debug.SetMemoryLimit(1<<63 - 1) // no limit
	}
	if os.Getenv("GOGC") == "" {
		if limit > 0 {
			debug.SetGCPercent(gcPercentWithLimit)
		} else {
			debug.SetGCPercent(100)
		}
	}
	gcPercent = debug.SetGCPercent(100)
	debug.SetGCPercent(gcPercent)
	return debug.SetMemoryLimit(-1), gcPercent
}

// After a burst (hostile load, a flood of connections) the heap is mostly
// free or garbage, but Go hands free memory back to the system only
// gradually, collects garbage only when allocation resumes (or every two
// minutes), and under GOGC=400 keeps up to five times the live heap: the
// process stays several times its idle size long after the burst.
// returnFreeMemory looks every freeMemoryEvery and collects and returns
// free memory at once (debug.FreeOSMemory) when more than freeMemoryAbove
// bytes of heap are free and not yet returned, or when no collection ran
// since the last look (the server is quiet) and the heap holds more than
// quietHeapAbove bytes, garbage included: RSS then follows the load back
// down within seconds of the next look (the idle server is about 30 MB, so
// the thresholds are small: with 32 MiB, 65 MB stayed resident after the
// idle-h2 scenario). Reading the runtime/metrics samples is cheap; under
// steady load the forced collection comes at most once per look, beside
// the many collections the load itself causes.
const (
	freeMemoryEvery = 10 * time.Second
	freeMemoryAbove = 8 << 20
	quietHeapAbove  = 16 << 20
)

// returnFreeMemory runs until stop is closed.
func returnFreeMemory(stop <-chan struct{}) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	t := time.NewTicker(freeMemoryEvery)
	defer t.Stop()
	var cycles uint64
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		metrics.Read(s)
		free, objects, n := value(s[0]), value(s[1]), value(s[2])
		if free > freeMemoryAbove || (n == cycles && free+objects > quietHeapAbove) {
			debug.FreeOSMemory()
			metrics.Read(s[2:])
			n = value(s[2])
		}
		cycles = n
	}
}

// value is a runtime/metrics sample's value (0 if the runtime lacks it).
func value(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}
