// Package keystone validates OpenStack Keystone v3 user tokens the way keystonemiddleware's authtoken filter
// does for trove-api: the service user named in [keystone_authtoken] authenticates once (and again whenever
// Keystone rejects its token), each user token is checked with GET /v3/auth/tokens, and results are kept in a
// bounded in-memory cache keyed by the SHA-256 of the token (never the token itself). Invalid tokens are cached
// briefly too, and concurrent validations of one token share a single Keystone request.
//
// Handlers depend on the Validator interface; tests above this package use keystonetest.StaticValidator.
package keystone

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Token is what trove-api needs to know about a validated user token.
type Token struct {
	UserID   string
	UserName string
	// ProjectID and ProjectName are empty for an unscoped or domain-scoped token, which Keystone accepts;
	// trove-api's tenant-path check then refuses the request (403), as Trove does.
	ProjectID   string
	ProjectName string
	DomainID    string // the project's domain (the user's for an unscoped token)
	Roles       []string
	ExpiresAt   time.Time
	// IsAdmin is not set by this package: the caller computes it with policy (context_is_admin / admin_roles).
	IsAdmin bool
	// Catalog is the token's service catalog exactly as Keystone returned it (what X-Service-Catalog carries).
	Catalog json.RawMessage
}

// Clone returns a deep copy, so callers may modify their token (e.g. set IsAdmin) without touching a cached one.
func (t *Token) Clone() *Token {
	c := *t
	c.Roles = append([]string(nil), t.Roles...)
	c.Catalog = append(json.RawMessage(nil), t.Catalog...)
	return &c
}

// HasRole reports whether the token carries the role (Keystone role names compare case-insensitively).
func (t *Token) HasRole(role string) bool {
	for _, r := range t.Roles {
		if strings.EqualFold(r, role) {
			return true
		}
	}
	return false
}

// Validator validates a user token. Errors: ErrInvalidToken when Keystone says the token is not valid (the API
// answers 401), an error wrapping ErrUnavailable when Keystone could not be asked (the API answers 503).
type Validator interface {
	Validate(ctx context.Context, userToken string) (*Token, error)
}

// Projects tells whether a project exists (trove-api checks the target of a quota update). Errors wrap
// ErrUnavailable.
type Projects interface {
	ProjectExists(ctx context.Context, id string) (bool, error)
}

var (
	// ErrInvalidToken means the token is unknown, expired, revoked or malformed.
	ErrInvalidToken = errors.New("invalid or expired token")
	// ErrUnavailable is wrapped by every error that means Keystone could not give an answer.
	ErrUnavailable = errors.New("identity service unavailable")
)
