package keystone

import "context"

// StaticValidator is a Validator for tests of code above this package: it knows a fixed set of tokens.
// An unknown token yields ErrInvalidToken; a non-nil Err is returned for every call instead (use an error
// wrapping ErrUnavailable to simulate Keystone being down).
type StaticValidator struct {
	Tokens map[string]Token
	Err    error
	// Projects are the projects that exist besides those of the tokens (ProjectExists).
	Projects []string
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

// ProjectExists implements Projects: the projects of the tokens and Projects exist.
func (v StaticValidator) ProjectExists(_ context.Context, id string) (bool, error) {
	if v.Err != nil {
		return false, v.Err
	}
	for _, t := range v.Tokens {
		if t.ProjectID == id && id != "" {
			return true, nil
		}
	}
	for _, p := range v.Projects {
		if p == id {
			return true, nil
		}
	}
	return false, nil
}
