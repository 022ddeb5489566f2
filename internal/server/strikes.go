package server

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// Strikes: per source address, how many of its connections the server
// recently had to end for misbehaving (see admission.go). An address with
// penaltyStrikes or more gets no handshake: its new connections are held
// unread, as connections past every allowance are. A flood's addresses
// otherwise come back as fast as the server ends their connections, each
// time for a TLS handshake and a round of refused requests: the h2-streams
// scenario of seatrx bench, its 10,000 attackers at the server's own CPU
// priority, had the server do about 1,100 handshakes and 34,000 stream answers
// a second, and its accept loop fell so far behind that the kernel
// dropped legitimate clients' SYNs.
//
// The score decays by half every half-life (the un-attested timeout), so
// an address that stops misbehaving is admitted again: from the largest
// score, maxStrikeScore, after 2.1 half-lives (21 s at the default).

const (
	// penaltyStrikes is how many strikes close together penalize an
	// address: from a score of penaltyStrikes-0.5 (strikes a moment apart
	// have decayed a little).
	penaltyStrikes = 8
	// maxStrikeScore bounds an address's score, and so how long its
	// penalty outlasts its misbehaving.
	maxStrikeScore = 4 * penaltyStrikes
	// maxStrikeAddrs bounds the addresses tracked; past it, addresses
	// whose score has decayed below 1 are forgotten, at most once per
	// strikeSweep, and a new address is not tracked until there is room.
	maxStrikeAddrs = 1 << 16
	strikeSweep    = time.Second
)

// strikes holds the scores.
type strikes struct {
	halfLife time.Duration
	now      func() time.Time

	mu    sync.Mutex
	m     map[netip.Addr]strike
	swept time.Time
}

type strike struct {
	score float64
	at    time.Time // when score was last set
}

func newStrikes(halfLife time.Duration) *strikes {
	return &strikes{halfLife: halfLife, now: time.Now, m: map[netip.Addr]strike{}}
}

// decayed is s's score at now.
func (st *strikes) decayed(s strike, now time.Time) float64 {
	if st.halfLife <= 0 {
		return 0
	}
	return s.score * math.Exp2(-float64(now.Sub(s.at))/float64(st.halfLife))
}

// over reports whether s is a penalty at now: penaltyStrikes, less the
// half a strike of decay allowed.
func (st *strikes) over(s strike, now time.Time) bool {
	return st.decayed(s, now) >= penaltyStrikes-0.5
}

// add counts one strike against addr and reports whether it made addr
// penalized (it was not just before), with the score.
func (st *strikes) add(addr netip.Addr) (penalized bool, score float64) {
	if !addr.IsValid() {
		return false, 0
	}
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[addr]
	if !ok && len(st.m) >= maxStrikeAddrs {
		if now.Sub(st.swept) < strikeSweep {
			return false, 0
		}
		st.swept = now
		for a, s := range st.m {
			if st.decayed(s, now) < 1 {
				delete(st.m, a)
			}
		}
		if len(st.m) >= maxStrikeAddrs {
			return false, 0
		}
	}
	was := st.over(s, now)
	s = strike{score: min(st.decayed(s, now)+1, maxStrikeScore), at: now}
	st.m[addr] = s
	return !was && st.over(s, now), s.score
}

// penalized reports whether addr is penalized now.
func (st *strikes) penalized(addr netip.Addr) bool {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[addr]
	return ok && st.over(s, now)
}

// penalizedNow is how many addresses are penalized now.
func (st *strikes) penalizedNow() int {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, s := range st.m {
		if st.over(s, now) {
			n++
		}
	}
	return n
}
