package receipt

import (
	"crypto/subtle"
	"sync"
	"time"
)

// TokenSecretSize is the length of an execution-token secret.
const TokenSecretSize = 32

// CheckTokenSecret performs the pure, stateless checks of an execution-token
// redemption: the secret hashes to the token digest, the audience matches,
// now lies in [nbf, exp), and if the token has a key binding (cnf) the
// presenting peer's key hash equals it. Atomic single-use consumption is the
// caller's (see TokenLedger).
func CheckTokenSecret(tok ExecutionToken, secret []byte, aud string, now time.Time, peerKeyHash []byte) error {
	const f = "execution_token"
	if err := tok.validate(f); err != nil {
		return err
	}
	if len(secret) != TokenSecretSize || !tok.Digest.Matches(secret) {
		return ferr(f+".digest", CodeTokenMismatch, "secret does not match the token digest")
	}
	if subtle.ConstantTimeCompare([]byte(aud), []byte(tok.Audience)) != 1 {
		return ferr(f+".aud", CodeTokenAudience, "audience %q, token is for %q", aud, tok.Audience)
	}
	n := now.Unix()
	if n < 0 || uint64(n) < tok.NotBefore {
		return ferr(f+".nbf", CodeTokenNotYetValid, "now %d before nbf %d", n, tok.NotBefore)
	}
	if uint64(n) >= tok.Expires {
		return ferr(f+".exp", CodeTokenExpired, "now %d at or after exp %d", n, tok.Expires)
	}
	if tok.Cnf != nil {
		if subtle.ConstantTimeCompare(peerKeyHash, tok.Cnf.Value) != 1 {
			return ferr(f+".cnf", CodeTokenCnf, "presenting key is not the bound peer key")
		}
	}
	return nil
}

// TokenLedger records consumed execution tokens. Consume must be atomic: it
// returns an error with code token_consumed (errors.Is(err, ErrTokenConsumed))
// if id was consumed before. It applies no other rule: those are
// CheckTokenSecret's. receipt/store's ConsumeToken is the durable counterpart.
type TokenLedger interface {
	Consume(id []byte, until time.Time) error
}

// Redeem runs CheckTokenSecret and then consumes the token in ledger.
func Redeem(tok ExecutionToken, secret []byte, aud string, now time.Time, peerKeyHash []byte, ledger TokenLedger) error {
	if ledger == nil {
		return ferr("execution_token", CodeConfig, "no token ledger")
	}
	if err := CheckTokenSecret(tok, secret, aud, now, peerKeyHash); err != nil {
		return err
	}
	return ledger.Consume(tok.ID, unix(tok.Expires))
}

// MemoryTokenLedger is an in-process TokenLedger for tests and single-process
// tools; entries are dropped after their expiry.
type MemoryTokenLedger struct {
	mu   sync.Mutex
	used map[string]time.Time
}

// NewMemoryTokenLedger returns an empty in-memory ledger.
func NewMemoryTokenLedger() *MemoryTokenLedger {
	return &MemoryTokenLedger{used: make(map[string]time.Time)}
}

// Consume marks id as used; a second call for the same id fails.
func (l *MemoryTokenLedger) Consume(id []byte, until time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.used[string(id)]; ok {
		return ferr("execution_token.id", CodeTokenConsumed, "token already redeemed")
	}
	l.used[string(id)] = until
	return nil
}

// ReplayCache remembers receipt ids seen by an online verifier. Seen records
// id until the given time and reports whether it was already present.
type ReplayCache interface {
	Seen(id []byte, until time.Time) (alreadySeen bool)
}

type memoryReplayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// NewMemoryReplayCache returns an in-process ReplayCache that forgets ids
// whose retention time has passed (pruned on insertion).
func NewMemoryReplayCache() ReplayCache {
	return &memoryReplayCache{seen: make(map[string]time.Time)}
}

// Seen implements ReplayCache.
func (c *memoryReplayCache) Seen(id []byte, until time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[string(id)]; ok {
		return true
	}
	if len(c.seen) >= 4096 {
		// Prune by wall clock: retention times are in real time in production.
		wall := time.Now()
		for k, exp := range c.seen {
			if exp.Before(wall) {
				delete(c.seen, k)
			}
		}
	}
	c.seen[string(id)] = until
	return false
}
