package tdx

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// ChainCache remembers PCK certificate chains that passed full x509
// verification, keyed by sha256(PEM chain bytes) and the trusted root set, so
// that later quotes from the same platform only need their quote and QE
// report signatures checked. Entries are used only while Now lies inside every
// certificate's validity window. Safe for concurrent use; least recently used
// entries are evicted beyond max.
type ChainCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front = most recently used; values are *cacheItem
	items map[[64]byte]*list.Element
}

type cacheItem struct {
	key [64]byte
	ent *chainEntry
}

// NewChainCache returns a cache holding at most max chains (minimum 1).
func NewChainCache(max int) *ChainCache {
	if max < 1 {
		max = 1
	}
	return &ChainCache{max: max, ll: list.New(), items: make(map[[64]byte]*list.Element)}
}

// Len returns the number of cached chains.
func (c *ChainCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// Anchored reports whether the cache holds the PCK chain of quote, verified
// against roots and usable at now. It checks no signature and trusts
// nothing: a verifier with several root sets uses it to try first the one
// that anchored this platform's chain before, so that a quote pays no
// attempt against a set that cannot anchor it.
func (c *ChainCache) Anchored(quote []byte, roots *Roots, now time.Time) bool {
	if c == nil || roots == nil {
		return false
	}
	v, err := parseQuote(quote)
	if err != nil {
		return false
	}
	return c.get(cacheKey(v.pckChain, roots), now) != nil
}

func cacheKey(chain []byte, roots *Roots) [64]byte {
	var k [64]byte
	h := sha256.Sum256(chain)
	copy(k[:32], h[:])
	copy(k[32:], roots.id[:])
	return k
}

func (c *ChainCache) get(key [64]byte, now time.Time) *chainEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil
	}
	it := el.Value.(*cacheItem)
	if now.Before(it.ent.notBefore) || now.After(it.ent.notAfter) {
		return nil // let the cold path report the precise time failure
	}
	c.ll.MoveToFront(el)
	return it.ent
}

func (c *ChainCache) put(key [64]byte, ent *chainEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value.(*cacheItem).ent = ent
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&cacheItem{key: key, ent: ent})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheItem).key)
	}
}
