package keystone

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/testenv"
)

// keystoneProxy sits between the client under test and the real Keystone and counts requests to
// /v3/auth/tokens: GET = validations, POST = service-user authentications. down makes it answer 503.
type keystoneProxy struct {
	*httptest.Server
	validations, auths atomic.Int32
	down               atomic.Bool
}

func newProxy(t *testing.T) *keystoneProxy {
	t.Helper()
	target, err := url.Parse(testenv.KeystoneURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	p := &keystoneProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/v3/auth/tokens" {
			switch r.Method {
			case http.MethodGet:
				p.validations.Add(1)
			case http.MethodPost:
				p.auths.Add(1)
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func serviceConfig(t testing.TB, authURL string) Config {
	return Config{
		AuthURL:           authURL,
		Username:          "trove",
		Password:          testenv.Get(t, testenv.ServicePassword),
		ProjectName:       "service",
		UserDomainName:    "Default",
		ProjectDomainName: "Default",
	}
}

// fakeClock is the client's clock, advanced by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestClient returns a client talking to Keystone through a counting proxy, on a fake clock.
func newTestClient(t *testing.T, mod func(*Config)) (*Client, *keystoneProxy, *fakeClock) {
	t.Helper()
	p := newProxy(t)
	cfg := serviceConfig(t, p.URL+"/v3")
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	clock := &fakeClock{t: time.Now()}
	c.now = clock.now
	return c, p, clock
}

// userToken logs in as a test user (directly at Keystone) and returns the token.
func userToken(t testing.TB, user, project string) (string, *gophercloud.ServiceClient) {
	t.Helper()
	password := testenv.Get(t, testenv.DemoPassword)
	switch user {
	case "admin":
		password = testenv.Get(t, testenv.KeystoneAdminPassword)
	case "trove":
		password = testenv.Get(t, testenv.ServicePassword)
	}
	pc, err := openstack.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{
		IdentityEndpoint: testenv.KeystoneURL(t),
		Username:         user, Password: password, DomainID: "default",
		Scope: &gophercloud.AuthScope{ProjectName: project, DomainID: "default"},
	})
	if err != nil {
		t.Fatalf("log in as %s on %s: %v", user, project, err)
	}
	id, err := openstack.NewIdentityV3(pc, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return pc.Token(), id
}

func TestValidateUsers(t *testing.T) {
	c, p, _ := newTestClient(t, nil)
	tests := []struct {
		user, project string
		wantRoles     []string
		noRoles       []string
	}{
		{"admin", "admin", []string{"admin", "member", "reader"}, nil},
		{"trove", "service", []string{"admin"}, nil},
		{"demo", "demo", []string{"member", "reader"}, []string{"admin"}},
		{"demo2", "demo2", []string{"member", "reader"}, []string{"admin"}},
		{"demoreader", "demo", []string{"reader"}, []string{"admin", "member"}},
	}
	projectIDs := map[string]string{}
	for _, tc := range tests {
		tokenID, _ := userToken(t, tc.user, tc.project)
		tok, err := c.Validate(t.Context(), tokenID)
		if err != nil {
			t.Errorf("%s: %v", tc.user, err)
			continue
		}
		if tok.UserName != tc.user || tok.UserID == "" || tok.ProjectName != tc.project || tok.ProjectID == "" ||
			tok.DomainID != "default" {
			t.Errorf("%s: identity %+v", tc.user, tok)
		}
		for _, r := range tc.wantRoles {
			if !tok.HasRole(r) {
				t.Errorf("%s: roles %v lack %s", tc.user, tok.Roles, r)
			}
		}
		for _, r := range tc.noRoles {
			if tok.HasRole(r) {
				t.Errorf("%s: roles %v include %s", tc.user, tok.Roles, r)
			}
		}
		if tok.IsAdmin {
			t.Errorf("%s: IsAdmin set by keystone package", tc.user)
		}
		if d := time.Until(tok.ExpiresAt); d < time.Hour || d > 5*time.Hour {
			t.Errorf("%s: expires_at %v not ≈ 4 h ahead", tc.user, tok.ExpiresAt)
		}
		if len(tok.Catalog) < 10 || tok.Catalog[0] != '[' {
			t.Errorf("%s: catalog %q", tc.user, tok.Catalog)
		}
		projectIDs[tc.project] = tok.ProjectID
	}
	if projectIDs["demo"] == projectIDs["demo2"] {
		t.Error("demo and demo2 share a project id")
	}
	if got := p.validations.Load(); got != int32(len(tests)) {
		t.Errorf("%d validations for %d tokens", got, len(tests))
	}
}

func TestInvalidTokens(t *testing.T) {
	c, p, clock := newTestClient(t, nil)
	for _, bad := range []string{"", "garbage", "gAAAAABnot-a-real-fernet-token-0123456789"} {
		for i := 0; i < 3; i++ {
			if _, err := c.Validate(t.Context(), bad); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("%q: got %v, want ErrInvalidToken", bad, err)
			}
		}
	}
	// Two non-empty garbage tokens, each asked once: the repeats were answered by the negative cache.
	if got := p.validations.Load(); got != 2 {
		t.Errorf("%d validations, want 2", got)
	}
	clock.advance(DefaultNegativeTTL)
	if _, err := c.Validate(t.Context(), "garbage"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("garbage after negative TTL: %v", err)
	}
	if got := p.validations.Load(); got != 3 {
		t.Errorf("negative entry did not expire: %d validations, want 3", got)
	}
}

func TestCacheHitAndRevocation(t *testing.T) {
	c, p, clock := newTestClient(t, func(cfg *Config) { cfg.CacheTTL = time.Minute })
	tokenID, identity := userToken(t, "demo", "demo")
	first, err := c.Validate(t.Context(), tokenID)
	if err != nil {
		t.Fatal(err)
	}
	first.IsAdmin = true // the caller's copy; must not leak into the cache
	first.Roles[0] = "tampered"
	for i := 0; i < 5; i++ {
		tok, err := c.Validate(t.Context(), tokenID)
		if err != nil || tok.IsAdmin || slices.Contains(tok.Roles, "tampered") {
			t.Fatalf("cached validation: %+v, %v", tok, err)
		}
	}
	if got := p.validations.Load(); got != 1 {
		t.Fatalf("%d validations, want 1 (cache hits must not call Keystone)", got)
	}

	// Revoke (DELETE /v3/auth/tokens) as the token's own user.
	if err := tokens.Revoke(t.Context(), identity, tokenID).Err; err != nil {
		t.Fatalf("revoke: %v", err)
	}
	// Like keystonemiddleware, a revoked token stays accepted until its cache entry expires...
	if _, err := c.Validate(t.Context(), tokenID); err != nil {
		t.Errorf("within TTL: %v", err)
	}
	// ...and is refused afterwards.
	clock.advance(time.Minute)
	if _, err := c.Validate(t.Context(), tokenID); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("revoked token after TTL: %v, want ErrInvalidToken", err)
	}
	if got := p.validations.Load(); got != 2 {
		t.Errorf("%d validations, want 2", got)
	}
}

func TestCacheEntryEndsAtTokenExpiry(t *testing.T) {
	c, p, clock := newTestClient(t, func(cfg *Config) { cfg.CacheTTL = 24 * time.Hour })
	tokenID, _ := userToken(t, "demo2", "demo2")
	tok, err := c.Validate(t.Context(), tokenID)
	if err != nil {
		t.Fatal(err)
	}
	clock.advance(tok.ExpiresAt.Sub(clock.now()))
	// Keystone still considers it valid (its clock is real), but our view says expired: refused without a
	// cached answer, and not with a stale one.
	if _, err := c.Validate(t.Context(), tokenID); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("at expiry: %v, want ErrInvalidToken", err)
	}
	if got := p.validations.Load(); got != 2 {
		t.Errorf("%d validations, want 2", got)
	}
}

func TestConcurrentValidationsCoalesce(t *testing.T) {
	c, p, _ := newTestClient(t, nil)
	tokenID, _ := userToken(t, "demo", "demo")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Validate(t.Context(), tokenID)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := p.validations.Load(); got != 1 {
		t.Errorf("20 concurrent validations of one token made %d Keystone calls, want 1", got)
	}
}

func TestServiceTokenReauth(t *testing.T) {
	c, p, _ := newTestClient(t, nil)
	if got := p.auths.Load(); got != 1 {
		t.Fatalf("%d service authentications at start, want 1", got)
	}
	// Revoke the client's own service token behind its back: the next validation gets 401, re-authenticates
	// and retries.
	_, admin := userToken(t, "admin", "admin")
	if err := tokens.Revoke(t.Context(), admin, c.identity.Token()).Err; err != nil {
		t.Fatalf("revoke service token: %v", err)
	}
	tokenID, _ := userToken(t, "demoreader", "demo")
	tok, err := c.Validate(t.Context(), tokenID)
	if err != nil || tok.UserName != "demoreader" {
		t.Fatalf("after service token revocation: %+v, %v", tok, err)
	}
	if got := p.auths.Load(); got != 2 {
		t.Errorf("%d service authentications, want 2 (one re-authentication)", got)
	}
}

func TestUnavailable(t *testing.T) {
	c, p, _ := newTestClient(t, nil)
	tokenID, _ := userToken(t, "demo", "demo")
	p.down.Store(true)
	for i := 0; i < 2; i++ {
		if _, err := c.Validate(t.Context(), tokenID); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Keystone down: %v, want ErrUnavailable", err)
		}
	}
	// An outage is never cached: the token validates once Keystone is back.
	p.down.Store(false)
	if _, err := c.Validate(t.Context(), tokenID); err != nil {
		t.Fatalf("Keystone back: %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	other, _ := userToken(t, "demo2", "demo2")
	if _, err := c.Validate(ctx, other); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name        string
		mod         func(*Config)
		unavailable bool
	}{
		{"no auth_url", func(c *Config) { c.AuthURL = "" }, false},
		{"no password", func(c *Config) { c.Password = "" }, false},
		{"wrong password", func(c *Config) { c.Password = "wrong" }, false},
		{"keystone unreachable", func(c *Config) { c.AuthURL = closed.URL }, true},
		{"missing cafile", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, false},
	}
	for _, tc := range tests {
		cfg := serviceConfig(t, testenv.KeystoneURL(t))
		tc.mod(&cfg)
		c, err := New(t.Context(), cfg)
		if err == nil {
			t.Errorf("%s: New succeeded: %+v", tc.name, c)
			continue
		}
		if errors.Is(err, ErrUnavailable) != tc.unavailable {
			t.Errorf("%s: %v (unavailable=%v)", tc.name, err, tc.unavailable)
		}
		if strings.Contains(err.Error(), cfg.Password) && cfg.Password != "" {
			t.Errorf("%s: error reveals the password: %v", tc.name, err)
		}
	}
}

func TestConfigFrom(t *testing.T) {
	f, err := config.Parse(`[keystone_authtoken]
www_authenticate_uri = http://public.example:5000
auth_url = http://127.0.0.1:5000
username = trove
password = secret
project_name = service
user_domain_name = Default
project_domain_id = default
cafile = /etc/ssl/ca.pem
insecure = true
region_name = RegionTwo
token_cache_time = 60
`)
	if err != nil {
		t.Fatal(err)
	}
	got := ConfigFrom(f)
	want := Config{
		AuthURL: "http://127.0.0.1:5000", WWWAuthenticateURI: "http://public.example:5000", Username: "trove",
		Password: "secret", ProjectName: "service", UserDomainName: "Default", ProjectDomainID: "default",
		CAFile: "/etc/ssl/ca.pem", Insecure: true, RegionName: "RegionTwo", CacheTTL: time.Minute,
		Timeout: DefaultTimeout,
	}
	if got != want {
		t.Errorf("ConfigFrom:\n got %+v\nwant %+v", got, want)
	}
	only, _ := config.Parse("[keystone_authtoken]\nwww_authenticate_uri = http://ks:5000/v3\n")
	if c := ConfigFrom(only); c.AuthURL != "http://ks:5000/v3" || c.CacheTTL != DefaultCacheTTL {
		t.Errorf("www_authenticate_uri fallback: %+v", c)
	}
	for in, want := range map[string]string{
		"http://ks:5000": "http://ks:5000/v3/", "http://ks:5000/": "http://ks:5000/v3/",
		"http://ks:5000/v3": "http://ks:5000/v3/", "http://ks/identity/v3/": "http://ks/identity/v3/",
	} {
		if got := identityEndpoint(in); got != want {
			t.Errorf("identityEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWWWAuthenticate(t *testing.T) {
	c, _, _ := newTestClient(t, func(cfg *Config) { cfg.WWWAuthenticateURI = "http://public.example:5000" })
	if got := c.WWWAuthenticate(); got != `Keystone uri="http://public.example:5000"` {
		t.Errorf("got %s", got)
	}
}

// benchClient validates directly at Keystone (no proxy) and returns a fresh demo token.
func benchClient(b *testing.B) (*Client, string) {
	c, err := New(context.Background(), serviceConfig(b, testenv.KeystoneURL(b)))
	if err != nil {
		b.Fatal(err)
	}
	tokenID, _ := userToken(b, "demo", "demo")
	return c, tokenID
}

func BenchmarkValidateCached(b *testing.B) {
	c, tokenID := benchClient(b)
	if _, err := c.Validate(context.Background(), tokenID); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Validate(context.Background(), tokenID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkValidateUncached(b *testing.B) {
	c, tokenID := benchClient(b)
	for b.Loop() {
		if _, err := c.lookup(context.Background(), tokenID); err != nil {
			b.Fatal(err)
		}
	}
}

func TestConfigHidesPassword(t *testing.T) {
	c := Config{Username: "trove", Password: "s3cret-pw"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(format, c); strings.Contains(out, "s3cret-pw") || !strings.Contains(out, "trove") {
			t.Errorf("%s: %s", format, out)
		}
	}
}

// ProjectExists answers for exactly Keystone's project ids: a case or blank variant, an unknown or an overlong id
// is not a project, and an outage is an error, never "no such project".
func TestProjectExists(t *testing.T) {
	c, p, _ := newTestClient(t, nil)
	tokenID, _ := userToken(t, "demo", "demo")
	tok, err := c.Validate(t.Context(), tokenID)
	if err != nil {
		t.Fatal(err)
	}
	demo := tok.ProjectID
	if ok, err := c.ProjectExists(t.Context(), demo); !ok || err != nil {
		t.Fatalf("demo project %s: %v %v", demo, ok, err)
	}
	for _, id := range []string{strings.ToUpper(demo), demo + " ", " " + demo, "00000000000000000000000000000000",
		strings.Repeat("a", 100), "../" + demo, demo + "/x", ""} {
		if ok, err := c.ProjectExists(t.Context(), id); ok || err != nil {
			t.Errorf("ProjectExists(%q) = %v, %v", id, ok, err)
		}
	}
	p.down.Store(true)
	if ok, err := c.ProjectExists(t.Context(), demo); ok || !errors.Is(err, ErrUnavailable) {
		t.Errorf("Keystone down: %v %v, want ErrUnavailable", ok, err)
	}
}
