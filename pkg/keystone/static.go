package keystone

import "context"

// StaticValidator is a Validator for tests of code above this package: it knows a fixed set of tokens.
// An unknown token yields ErrInvalidToken; a non-nil Err is returned for every call instead (use an error
// wrapping ErrUnavailable to simulate Keystone being down).
type StaticValidator struct {
	Tokens map[string]Token
	Err    error
}

// Validate implements Validator.
func (v StaticValidator) Validate(_ context.Context, userToken string) (*Token, error) {
	if v.Err != nil {
		return nil, v.Err
	}
	t, ok := v.Tokens[userToken]
	if !ok {
		return nil, ErrInvalidToken
	}
	return t.Clone(), nil
}
