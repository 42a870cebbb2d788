package openstack

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// counter is the provider's HTTP transport: it counts requests per OpenStack service (by endpoint prefix, else
// by host) and Keystone token requests apart, so benchmarks and tests can see how many calls an operation costs
// and that the token is reused.
type counter struct {
	next http.RoundTripper

	mu       sync.Mutex
	counts   map[string]int
	prefixes map[string]string // endpoint URL prefix → service name
}

// TokenRequests is the RequestCounts key of Keystone token issues (POST …/auth/tokens).
const TokenRequests = "keystone_token"

func newCounter(next http.RoundTripper) *counter {
	if next == nil {
		next = http.DefaultTransport
	}
	return &counter{next: next, counts: map[string]int{}, prefixes: map[string]string{}}
}

// register names the service at an endpoint. Requests made to its host before (gophercloud's version
// discovery while the service client was made) are counted as the service's.
func (c *counter) register(name, prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prefixes[strings.TrimRight(prefix, "/")] = name
	if u, err := url.Parse(prefix); err == nil && c.counts[u.Host] > 0 {
		c.counts[name] += c.counts[u.Host]
		delete(c.counts, u.Host)
	}
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	key := r.URL.Host
	u := r.URL.String()
	c.mu.Lock()
	best := 0
	for p, name := range c.prefixes {
		if len(p) > best && strings.HasPrefix(u, p) {
			key, best = name, len(p)
		}
	}
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/auth/tokens") {
		key = TokenRequests
	}
	c.counts[key]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}
