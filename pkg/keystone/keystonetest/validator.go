// Package keystonetest holds the test double of pkg/keystone (test-only: no binary imports it).
package keystonetest

import (
	"context"
	"slices"

	"github.com/trove-go/trove/pkg/keystone"
)

var (
	_ keystone.Validator = StaticValidator{}
	_ keystone.Projects  = StaticValidator{}
)

// StaticValidator is a keystone.Validator for tests of code above pkg/keystone: it knows a fixed set of tokens.
// An unknown token yields keystone.ErrInvalidToken; a non-nil Err is returned for every call instead (use an
// error wrapping keystone.ErrUnavailable to simulate Keystone being down).
type StaticValidator struct {
	Tokens map[string]keystone.Token
	Err    error
	// Projects are the projects that exist besides those of the tokens (ProjectExists).
	Projects []string
}

// Validate implements keystone.Validator.
func (v StaticValidator) Validate(_ context.Context, userToken string) (*keystone.Token, error) {
	if v.Err != nil {
		return nil, v.Err
	}
	t, ok := v.Tokens[userToken]
	if !ok {
		return nil, keystone.ErrInvalidToken
	}
	return t.Clone(), nil
}

// ProjectExists implements keystone.Projects: the projects of the tokens and Projects exist.
func (v StaticValidator) ProjectExists(_ context.Context, id string) (bool, error) {
	if v.Err != nil {
		return false, v.Err
	}
	for _, t := range v.Tokens {
		if t.ProjectID == id && id != "" {
			return true, nil
		}
	}
	return slices.Contains(v.Projects, id), nil
}
