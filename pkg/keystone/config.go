package keystone

import (
	"fmt"
	"strings"
	"time"

	"github.com/trove-go/trove/pkg/config"
)

// Config is the [keystone_authtoken] section plus the cache bounds.
type Config struct {
	// AuthURL is where the service user authenticates and tokens are validated (auth_url, else
	// www_authenticate_uri). A URL without a version ("http://host:5000") gets "/v3" appended.
	AuthURL string
	// WWWAuthenticateURI is advertised in 401 responses (www_authenticate_uri, else auth_url).
	WWWAuthenticateURI string

	Username          string
	Password          string
	ProjectName       string
	UserDomainName    string
	UserDomainID      string
	ProjectDomainName string
	ProjectDomainID   string
	RegionName        string

	CAFile   string
	Insecure bool

	// CacheTTL bounds how long a valid token is served from the cache (never past its expiry). Default 5 min.
	CacheTTL time.Duration
	// NegativeTTL is how long an invalid token is remembered as invalid. Default 3 s.
	NegativeTTL time.Duration
	// CacheSize bounds the number of cached tokens (least recently used are evicted). Default 10,000.
	CacheSize int
	// Timeout bounds one HTTP request to Keystone. Default 30 s.
	Timeout time.Duration
}

// Defaults for the cache and the HTTP client.
const (
	DefaultCacheTTL    = 5 * time.Minute
	DefaultNegativeTTL = 3 * time.Second
	DefaultCacheSize   = 10000
	DefaultTimeout     = 30 * time.Second
)

// ConfigFrom reads [keystone_authtoken] with keystonemiddleware's option names. token_cache_time (seconds) sets
// CacheTTL as in keystonemiddleware.
func ConfigFrom(file *config.File) Config {
	const s = "keystone_authtoken"
	c := Config{
		AuthURL:            file.String(s, "auth_url", ""),
		WWWAuthenticateURI: file.String(s, "www_authenticate_uri", file.String(s, "auth_uri", "")),
		Username:           file.String(s, "username", ""),
		Password:           file.String(s, "password", ""),
		ProjectName:        file.String(s, "project_name", ""),
		UserDomainName:     file.String(s, "user_domain_name", ""),
		UserDomainID:       file.String(s, "user_domain_id", ""),
		ProjectDomainName:  file.String(s, "project_domain_name", ""),
		ProjectDomainID:    file.String(s, "project_domain_id", ""),
		RegionName:         file.String(s, "region_name", ""),
		CAFile:             file.String(s, "cafile", ""),
		Insecure:           file.Bool(s, "insecure", false),
		CacheTTL:           file.Seconds(s, "token_cache_time", DefaultCacheTTL.Seconds()),
		Timeout:            file.Seconds(s, "http_connect_timeout", DefaultTimeout.Seconds()),
	}
	if c.AuthURL == "" {
		c.AuthURL = c.WWWAuthenticateURI
	}
	if c.WWWAuthenticateURI == "" {
		c.WWWAuthenticateURI = c.AuthURL
	}
	return c
}

func (c Config) withDefaults() Config {
	if c.CacheTTL <= 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = DefaultNegativeTTL
	}
	if c.CacheSize <= 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.WWWAuthenticateURI == "" {
		c.WWWAuthenticateURI = c.AuthURL
	}
	// keystonemiddleware defaults both domains to "Default" only through the auth plugin; do the same.
	if c.UserDomainName == "" && c.UserDomainID == "" {
		c.UserDomainID = "default"
	}
	if c.ProjectDomainName == "" && c.ProjectDomainID == "" {
		c.ProjectDomainID = "default"
	}
	return c
}

// identityEndpoint returns the versioned v3 endpoint with a trailing slash.
func identityEndpoint(authURL string) string {
	u := strings.TrimRight(authURL, "/")
	if !strings.HasSuffix(u, "/v3") {
		u += "/v3"
	}
	return u + "/"
}

// String hides the password, so a Config printed with %v or %+v never reveals it.
func (c Config) String() string {
	if c.Password != "" {
		c.Password = "***"
	}
	type plain Config // no String method: avoids recursion
	return fmt.Sprintf("%+v", plain(c))
}

// GoString hides the password from %#v as well.
func (c Config) GoString() string { return c.String() }
