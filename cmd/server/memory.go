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
	// server's needs, and a bound for hostile load.
	defaultMemoryLimit = 512 << 20
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
// free, but Go hands free memory back to the system only gradually, and
// under GOGC=400 keeps up to five times the live heap: the process stays
// several times its idle size long after the burst. returnFreeMemory looks
// every freeMemoryEvery and, when more than freeMemoryAbove bytes of heap
// are free and not yet returned, collects and returns them at once
// (debug.FreeOSMemory), so that RSS follows the load back down within
// about a minute. Reading the runtime/metrics sample is cheap; the forced
// collection happens only after such a burst.
const (
	freeMemoryEvery = 10 * time.Second
	freeMemoryAbove = 32 << 20
)

// returnFreeMemory runs until stop is closed.
func returnFreeMemory(stop <-chan struct{}) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	t := time.NewTicker(freeMemoryEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		metrics.Read(s)
		if s[0].Value.Kind() == metrics.KindUint64 && s[0].Value.Uint64() > freeMemoryAbove {
			debug.FreeOSMemory()
		}
	}
}
