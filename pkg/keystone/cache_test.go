package keystone

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCacheExpiryAndLRU(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newCache(2)
	a, b, d := keyOf("a"), keyOf("b"), keyOf("d")
	c.put(a, &Token{UserID: "a"}, t0.Add(time.Minute))
	c.put(b, nil, t0.Add(time.Second)) // a negative entry
	steps := []struct {
		name    string
		do      func()
		key     cacheKey
		at      time.Time
		wantHit bool
		wantTok bool
	}{
		{name: "fresh hit", key: a, at: t0, wantHit: true, wantTok: true},
		{name: "negative hit", key: b, at: t0, wantHit: true},
		{name: "negative expired", key: b, at: t0.Add(time.Second)},
		// b is gone; a, then d fill the cache; touching a makes d... a is older but was just used.
		{name: "refill", do: func() { c.put(b, nil, t0.Add(time.Hour)); c.get(a, t0); c.put(d, &Token{}, t0.Add(time.Hour)) },
			key: b, at: t0}, // b was least recently used when d arrived
		{name: "a survived eviction", key: a, at: t0, wantHit: true, wantTok: true},
		{name: "d present", key: d, at: t0, wantHit: true, wantTok: true},
		{name: "a expired at its deadline", key: a, at: t0.Add(time.Minute)},
		{name: "unknown", key: keyOf("zzz"), at: t0},
		{name: "update in place", do: func() { c.put(d, nil, t0.Add(2*time.Hour)) }, key: d, at: t0.Add(90 * time.Minute), wantHit: true},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		e, ok := c.get(s.key, s.at)
		if ok != s.wantHit || (ok && (e.tok != nil) != s.wantTok) {
			t.Errorf("%s: hit=%v entry=%+v, want hit=%v token=%v", s.name, ok, e, s.wantHit, s.wantTok)
		}
		if c.len() > 2 {
			t.Errorf("%s: cache holds %d entries, bound is 2", s.name, c.len())
		}
	}
}

func TestCacheBound(t *testing.T) {
	c := newCache(100)
	exp := time.Now().Add(time.Hour)
	for i := 0; i < 1000; i++ {
		c.put(keyOf(fmt.Sprint(i)), &Token{}, exp)
	}
	if c.len() != 100 {
		t.Fatalf("len %d, want 100", c.len())
	}
	for i := 900; i < 1000; i++ {
		if _, ok := c.get(keyOf(fmt.Sprint(i)), time.Now()); !ok {
			t.Fatalf("recent entry %d evicted", i)
		}
	}
}

func TestFlightCoalesces(t *testing.T) {
	var f flight
	var runs atomic.Int32
	release := make(chan struct{})
	k := keyOf("tok")
	fn := func() (*Token, error) {
		runs.Add(1)
		<-release
		return &Token{UserID: "u"}, nil
	}
	var calls []*call
	for i := 0; i < 50; i++ {
		calls = append(calls, f.do(k, fn))
	}
	other := f.do(keyOf("other"), func() (*Token, error) { runs.Add(1); return nil, ErrInvalidToken })
	close(release)
	var wg sync.WaitGroup
	for _, cl := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-cl.done
			if cl.err != nil || cl.tok.UserID != "u" {
				t.Errorf("waiter got %v, %v", cl.tok, cl.err)
			}
		}()
	}
	wg.Wait()
	<-other.done
	if other.err != ErrInvalidToken {
		t.Errorf("other key: %v", other.err)
	}
	if n := runs.Load(); n != 2 {
		t.Errorf("fn ran %d times for 2 keys", n)
	}
	// After completion a new call for the same key runs again.
	again := f.do(k, func() (*Token, error) { runs.Add(1); return &Token{}, nil })
	<-again.done
	if runs.Load() != 3 {
		t.Error("completed call was reused")
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
