package snp

import (
	"container/list"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"sync"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	"github.com/google/go-sev-guest/verify/trust"
)

// ChainCache remembers VCEK/VLEK certificates whose chain to a trusted root
// has already been verified, so that a repeat report from the same chip only
// costs one ECDSA P-384 signature check. It is keyed by sha256(VCEK DER) and
// the identity of the Roots value, bounded (least recently used entries are
// evicted) and safe for concurrent use. An entry is only used while Now is
// inside the validity window of every certificate in the verified chain.
type ChainCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // of *cacheEntry, most recent at front
	items map[cacheKey]*list.Element
}

type cacheKey struct {
	digest [32]byte
	roots  uint64
}

// cacheEntry is a verified endorsement-key chain.
type cacheEntry struct {
	key       cacheKey
	cert      *x509.Certificate
	exts      *kds.Extensions
	signer    abi.ReportSigner
	product   string
	root      *trust.AMDRootCerts
	anchor    string
	notBefore time.Time
	notAfter  time.Time
}

// NewChainCache returns a cache holding at most max chains (max < 1 means 1).
func NewChainCache(max int) *ChainCache {
	if max < 1 {
		max = 1
	}
	return &ChainCache{max: max, ll: list.New(), items: map[cacheKey]*list.Element{}}
}

// Len returns the number of cached chains.
func (c *ChainCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// get returns a usable entry for key at time now, or nil.
func (c *ChainCache) get(k cacheKey, now time.Time) *cacheEntry {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if now.Before(e.notBefore) || now.After(e.notAfter) {
		return nil
	}
	c.ll.MoveToFront(el)
	return e
}

func (c *ChainCache) put(e *cacheEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.key]; ok {
		el.Value = e
		c.ll.MoveToFront(el)
		return
	}
	c.items[e.key] = c.ll.PushFront(e)
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).key)
	}
}

// Anchored reports whether the cache holds a chain, verified against roots
// and usable at now, for the endorsement key that signs report (the VCEK or
// VLEK its SIGNER_INFO names, from certTable or the vcek override, as Verify
// chooses it). It checks no signature and trusts nothing: a verifier with
// several root sets uses it to try first the one that anchored this chip's
// key before, so that a report pays no attempt against a set that cannot
// anchor it.
func (c *ChainCache) Anchored(report, certTable, vcek []byte, roots *Roots, now time.Time) bool {
	if c == nil || roots == nil || len(report) != ReportSize {
		return false
	}
	info, err := abi.ParseSignerInfo(binary.LittleEndian.Uint32(report[signerInfoOffset:]))
	if err != nil {
		return false
	}
	table, err := ParseCertTable(certTable)
	if err != nil {
		return false
	}
	ek := endorsementKey(info.SigningKey, table, vcek)
	if len(ek) == 0 {
		return false
	}
	e := c.get(cacheKey{digest: sha256.Sum256(ek), roots: roots.id}, now)
	return e != nil && e.signer == info.SigningKey
}

// signerInfoOffset is where SIGNER_INFO sits in an ATTESTATION_REPORT.
const signerInfoOffset = 0x48

// chainWindow is the intersection of the validity periods of certs.
func chainWindow(certs ...*x509.Certificate) (notBefore, notAfter time.Time) {
	first := true
	for _, c := range certs {
		if c == nil {
			continue
		}
		if first || c.NotBefore.After(notBefore) {
			notBefore = c.NotBefore
		}
		if first || c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
		first = false
	}
	return notBefore, notAfter
}
