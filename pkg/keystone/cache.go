package keystone

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// cacheKey is the SHA-256 of a token: the cache never holds a usable token.
type cacheKey [sha256.Size]byte

func keyOf(token string) cacheKey { return sha256.Sum256([]byte(token)) }

// entry is one cached answer: a token, or ErrInvalidToken when tok is nil.
type entry struct {
	key     cacheKey
	tok     *Token
	expires time.Time
}

// cache is a size-bounded LRU of validation results with per-entry expiry.
type cache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front = most recently used; values are *entry
	items map[cacheKey]*list.Element
}

func newCache(max int) *cache {
	return &cache{max: max, ll: list.New(), items: make(map[cacheKey]*list.Element)}
}

// get returns the cached entry for k if it has not expired at now.
func (c *cache) get(k cacheKey, now time.Time) (*entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, k)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return e, true
}

// put stores tok (nil = invalid) for k until expires, evicting the least recently used entries beyond max.
func (c *cache) put(k cacheKey, tok *Token, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		e := el.Value.(*entry)
		e.tok, e.expires = tok, expires
		c.ll.MoveToFront(el)
		return
	}
	c.items[k] = c.ll.PushFront(&entry{key: k, tok: tok, expires: expires})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*entry).key)
	}
}

// flight coalesces concurrent lookups of the same key: the first caller runs fn, the others wait for its result.
type flight struct {
	mu    sync.Mutex
	calls map[cacheKey]*call
}

type call struct {
	done chan struct{}
	tok  *Token
	err  error
}

// do starts fn for k unless a call for k is already running, and returns the call to wait on.
// fn runs in its own goroutine so that a waiter giving up (context cancelled) does not cancel the others.
func (f *flight) do(k cacheKey, fn func() (*Token, error)) *call {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.calls[k]; ok {
		return c
	}
	if f.calls == nil {
		f.calls = make(map[cacheKey]*call)
	}
	c := &call{done: make(chan struct{})}
	f.calls[k] = c
	go func() {
		c.tok, c.err = fn()
		f.mu.Lock()
		delete(f.calls, k)
		f.mu.Unlock()
		close(c.done)
	}()
	return c
}
