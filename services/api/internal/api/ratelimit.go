package api

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/trove-go/trove/services/api/internal/fault"
)

// rateLimiter is Trove's per-process, per-project, per-verb requests-per-minute limit (a sliding window
// approximated by a token bucket refilled continuously, like Trove's limits.Limit).
type rateLimiter struct {
	limits map[string]int
	now    func() time.Time
	mu     sync.Mutex
	state  map[string]*bucket // project + " " + verb
}

type bucket struct {
	level float64 // requests "in the window"
	last  time.Time
}

func newRateLimiter(limits map[string]int, now func() time.Time) *rateLimiter {
	return &rateLimiter{limits: limits, now: now, state: map[string]*bucket{}}
}

// take accounts one request; it returns the 413 fault when over the limit.
func (l *rateLimiter) take(project, verb string) *fault.Error {
	limit, ok := l.limits[verb]
	if !ok || limit <= 0 {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.state[project+" "+verb]
	if b == nil {
		b = &bucket{last: now}
		l.state[project+" "+verb] = b
	}
	perSec := float64(limit) / 60
	b.level -= now.Sub(b.last).Seconds() * perSec
	if b.level < 0 {
		b.level = 0
	}
	b.last = now
	if b.level+1 > float64(limit) {
		wait := int((b.level+1-float64(limit))/perSec) + 1
		e := fault.OverLimit("This request was rate-limited.")
		e.Details = fmt.Sprintf("Only %d %s request(s) can be made to * every minute.", limit, verb)
		e.RetryAfter = strconv.Itoa(wait)
		return e
	}
	b.level++
	return nil
}

// remaining reports the limit entries for GET /limits.
func (l *rateLimiter) remaining(project, verb string) (limit, remaining int, next time.Time) {
	limit = l.limits[verb]
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	level := 0.0
	if b := l.state[project+" "+verb]; b != nil {
		level = b.level - now.Sub(b.last).Seconds()*float64(limit)/60
		if level < 0 {
			level = 0
		}
	}
	remaining = limit - int(level+0.999)
	if remaining < 0 {
		remaining = 0
	}
	next = now
	if remaining == 0 && limit > 0 {
		next = now.Add(time.Duration(60 / float64(limit) * float64(time.Second)))
	}
	return limit, remaining, next
}
