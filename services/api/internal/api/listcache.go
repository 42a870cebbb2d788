package api

import (
	"net/http"
	"sync"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
)

// listCache is the opt-in instance-list micro-cache ([DEFAULT] instance_list_cache_ttl, ours, seconds, default 0
// = off, at most 1 s). It keeps the catalog rows of a list page — never a rendered response — per project and
// page (include_clustered, marker, limit), so policy, admin-only keys and the status derivation (heartbeat age
// against the current time) are computed on every request as without it. What may be up to one TTL old is what
// OTHER processes wrote (taskmanager task changes, conductor heartbeats); any write through this process (every
// request that is not GET/HEAD) empties the cache before and after it runs, and a read that overlapped a write
// does not store its result.
type listCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	gen     uint64 // bumped by every write
	entries map[listKey]listEntry
}

type listKey struct {
	project   string
	clustered bool
	marker    string
	limit     int
}

type listEntry struct {
	at   time.Time
	rows []catalog.InstanceListEntry // read-only once stored
	next string
}

// maxListEntries bounds the cache; past it the cache starts over (entries live ≤ 1 s anyway).
const maxListEntries = 4096

// maxListCacheTTL is the longest TTL accepted: well under the guests' heartbeat period.
const maxListCacheTTL = time.Second

func newListCache(ttl time.Duration, now func() time.Time) *listCache {
	if ttl <= 0 {
		return nil
	}
	return &listCache{ttl: min(ttl, maxListCacheTTL), now: now, entries: map[listKey]listEntry{}}
}

// get returns a fresh entry, or the generation a caller must pass to put after reading the catalog.
func (c *listCache) get(k listKey) (listEntry, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if ok && c.now().Sub(e.at) < c.ttl {
		return e, true, c.gen
	}
	return listEntry{}, false, c.gen
}

// put stores rows read at generation gen, unless a write happened since.
func (c *listCache) put(k listKey, gen uint64, e listEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= maxListEntries {
		clear(c.entries)
	}
	e.at = c.now()
	c.entries[k] = e
}

func (c *listCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// invalidateOnWrite empties the list cache around every request that may write (not GET/HEAD).
func (a *API) invalidateOnWrite(next http.Handler) http.Handler {
	if a.listCache == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		a.listCache.invalidate()
		defer a.listCache.invalidate()
		next.ServeHTTP(w, r)
	})
}
