package keyring

import (
	"fmt"
	"sort"
	"strings"
)

// DefaultKeyUse names the options of opts (option name → value) that hold one of Trove's published default
// keys, sorted. Services call it at start with the keys they use (taskmanager_rpc_encr_key,
// inst_rpc_key_encr_key) when secure RPC is on.
func DefaultKeyUse(opts map[string]string) []string {
	var out []string
	for name, v := range opts {
		if IsTroveDefault(v) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// DefaultKeyError is returned (refuse_default_keys = true) or logged (otherwise) when a service starts with a
// default key: the key is public, so its "encryption" protects nothing.
type DefaultKeyError struct{ Options []string }

func (e *DefaultKeyError) Error() string {
	return fmt.Sprintf("[DEFAULT] %s hold(s) Trove's published default key: RPC encryption protects nothing; "+
		"generate fresh keys (e.g. `openssl rand -hex 32`)", strings.Join(e.Options, ", "))
}

// CheckDefaultKeys returns a *DefaultKeyError when any of opts holds a default key, nil otherwise.
func CheckDefaultKeys(opts map[string]string) error {
	if names := DefaultKeyUse(opts); len(names) > 0 {
		return &DefaultKeyError{Options: names}
	}
	return nil
}

// GuardDefaultKeys is the start-up check of a service: with a default key in opts it returns the error when
// refuse ([DEFAULT] refuse_default_keys, ours) and otherwise passes it to warn (a loud log line) and returns nil.
func GuardDefaultKeys(opts map[string]string, refuse bool, warn func(error)) error {
	err := CheckDefaultKeys(opts)
	if err == nil {
		return nil
	}
	if refuse {
		return err
	}
	warn(err)
	return nil
}
