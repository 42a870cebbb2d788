package keystone

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

// Client is the Keystone-backed Validator.
type Client struct {
	cfg      Config
	identity *gophercloud.ServiceClient
	cache    *cache
	flight   flight
	now      func() time.Time // the clock; tests inside the package replace it
}

var (
	_ Validator = (*Client)(nil)
	_ Projects  = (*Client)(nil)
)

// New authenticates the service user and returns a validating client. The service token is renewed
// automatically whenever Keystone answers 401 to a request made with it.
func New(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if cfg.AuthURL == "" {
		return nil, errors.New("keystone: [keystone_authtoken] auth_url (or www_authenticate_uri) is not set")
	}
	if cfg.Username == "" || cfg.Password == "" || cfg.ProjectName == "" {
		return nil, errors.New("keystone: [keystone_authtoken] username, password and project_name are required")
	}
	transport, err := httpTransport(cfg)
	if err != nil {
		return nil, err
	}
	endpoint := identityEndpoint(cfg.AuthURL)
	provider, err := openstack.NewClient(endpoint)
	if err != nil {
		return nil, fmt.Errorf("keystone: auth_url %q: %w", cfg.AuthURL, err)
	}
	provider.HTTPClient = http.Client{Transport: transport, Timeout: cfg.Timeout}
	provider.UserAgent.Prepend("trove-go-api")

	opts := gophercloud.AuthOptions{
		IdentityEndpoint: endpoint,
		Username:         cfg.Username,
		Password:         cfg.Password,
		DomainID:         cfg.UserDomainID,
		DomainName:       cfg.UserDomainName,
		AllowReauth:      true,
		Scope: &gophercloud.AuthScope{
			ProjectName: cfg.ProjectName,
			DomainID:    cfg.ProjectDomainID,
			DomainName:  cfg.ProjectDomainName,
		},
	}
	if opts.DomainID != "" {
		opts.DomainName = "" // gophercloud refuses both
	}
	if opts.Scope.DomainID != "" {
		opts.Scope.DomainName = ""
	}
	// Validation goes to auth_url itself, not to the identity endpoint of the catalog, as keystonemiddleware does.
	// Empty endpoint options: with a region gophercloud looks the identity endpoint up in a catalog it does not
	// have yet (nil EndpointLocator → panic).
	if err := openstack.AuthenticateV3(ctx, provider, &opts, gophercloud.EndpointOpts{}); err != nil {
		if gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) {
			return nil, fmt.Errorf("keystone: service user %q rejected by %s: check [keystone_authtoken] username, "+
				"password, project_name and domains: %w", cfg.Username, endpoint, err)
		}
		return nil, unavailable("authenticate service user", err)
	}
	return &Client{
		cfg:      cfg,
		identity: &gophercloud.ServiceClient{ProviderClient: provider, Endpoint: endpoint, Type: "identity"},
		cache:    newCache(cfg.CacheSize),
		now:      time.Now,
	}, nil
}

func httpTransport(cfg Config) (http.RoundTripper, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile == "" && !cfg.Insecure {
		return t, nil
	}
	tc := &tls.Config{InsecureSkipVerify: cfg.Insecure} //nolint:gosec // operator's explicit [keystone_authtoken] insecure
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("keystone: cafile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("keystone: cafile %s: no PEM certificates", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	t.TLSClientConfig = tc
	return t, nil
}

// WWWAuthenticate is the value of the WWW-Authenticate header of a 401 response.
func (c *Client) WWWAuthenticate() string {
	return fmt.Sprintf("Keystone uri=%q", c.cfg.WWWAuthenticateURI)
}

// Validate returns the token's identity, from the cache when possible.
func (c *Client) Validate(ctx context.Context, userToken string) (*Token, error) {
	if userToken == "" {
		return nil, ErrInvalidToken
	}
	k := keyOf(userToken)
	if e, ok := c.cache.get(k, c.now()); ok {
		if e.tok == nil {
			return nil, ErrInvalidToken
		}
		return e.tok.Clone(), nil
	}
	// The shared request must outlive any single waiter's context; the HTTP timeout bounds it.
	shared := context.WithoutCancel(ctx)
	cl := c.flight.do(k, func() (*Token, error) { return c.fetch(shared, k, userToken) })
	select {
	case <-cl.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	if cl.err != nil {
		return nil, cl.err
	}
	return cl.tok.Clone(), nil
}

// fetch asks Keystone and caches the answer (a token, or "invalid" for a short while; never an outage).
func (c *Client) fetch(ctx context.Context, k cacheKey, userToken string) (*Token, error) {
	tok, err := c.lookup(ctx, userToken)
	now := c.now()
	switch {
	case errors.Is(err, ErrInvalidToken):
		c.cache.put(k, nil, now.Add(c.cfg.NegativeTTL))
		return nil, err
	case err != nil:
		return nil, err
	case !now.Before(tok.ExpiresAt):
		c.cache.put(k, nil, now.Add(c.cfg.NegativeTTL))
		return nil, ErrInvalidToken
	}
	until := now.Add(c.cfg.CacheTTL)
	if tok.ExpiresAt.Before(until) {
		until = tok.ExpiresAt
	}
	c.cache.put(k, tok, until)
	return tok, nil
}

// tokenBody is the part of GET /v3/auth/tokens that we read.
type tokenBody struct {
	ExpiresAt time.Time `json:"expires_at"`
	User      struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Domain struct {
			ID string `json:"id"`
		} `json:"domain"`
	} `json:"user"`
	Project *struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Domain struct {
			ID string `json:"id"`
		} `json:"domain"`
	} `json:"project"`
	Roles []struct {
		Name string `json:"name"`
	} `json:"roles"`
	Catalog json.RawMessage `json:"catalog"`
}

// lookup is one validation request: GET /v3/auth/tokens with X-Subject-Token.
func (c *Client) lookup(ctx context.Context, userToken string) (*Token, error) {
	r := tokens.Get(ctx, c.identity, userToken)
	if r.Err != nil {
		// 404 is Keystone's answer for an unknown, expired or revoked subject token (400 for a malformed one).
		if gophercloud.ResponseCodeIs(r.Err, http.StatusNotFound) || gophercloud.ResponseCodeIs(r.Err, http.StatusBadRequest) {
			return nil, ErrInvalidToken
		}
		return nil, unavailable("validate token", r.Err)
	}
	var b tokenBody
	if err := r.ExtractInto(&b); err != nil {
		return nil, fmt.Errorf("%w: validate token: unreadable response: %w", ErrUnavailable, err)
	}
	t := &Token{
		UserID:    b.User.ID,
		UserName:  b.User.Name,
		DomainID:  b.User.Domain.ID,
		ExpiresAt: b.ExpiresAt,
		Catalog:   b.Catalog,
	}
	if b.Project != nil {
		t.ProjectID, t.ProjectName, t.DomainID = b.Project.ID, b.Project.Name, b.Project.Domain.ID
	}
	for _, r := range b.Roles {
		t.Roles = append(t.Roles, r.Name)
	}
	return t, nil
}

// ProjectExists asks Keystone (GET /v3/projects/{id}, as the service user) whether the project exists. The id
// must be exactly Keystone's: a SQL backend that compares case-insensitively does not make "ABC" the project
// "abc".
func (c *Client) ProjectExists(ctx context.Context, id string) (bool, error) {
	if id == "" || strings.ContainsAny(id, "/?#%") {
		return false, nil
	}
	p, err := projects.Get(ctx, c.identity, id).Extract()
	switch {
	case gophercloud.ResponseCodeIs(err, http.StatusNotFound):
		return false, nil
	case err != nil:
		return false, unavailable("look up project", err)
	}
	return p.ID == id, nil
}

// unavailable wraps an error meaning Keystone gave no usable answer: connection failures, 5xx, and a 401 that
// survived re-authentication of the service user.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}
