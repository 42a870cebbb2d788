package guestapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/trove-go/trove/pkg/rpc"
)

// Configuration methods (rpc.md §B.3): all calls with the high timeout, sent at BaseVersion.
const (
	MethodUpdateOverrides    = "update_overrides"
	MethodApplyOverrides     = "apply_overrides"
	MethodResetConfiguration = "reset_configuration"
)

// UpdateOverridesArgs is update_overrides: overrides replace the instance's configuration overrides in the file
// the server reads at start (remove: the overrides are removed instead). Nothing changes in the running server.
type UpdateOverridesArgs struct {
	Overrides map[string]any `json:"overrides"`
	Remove    bool           `json:"remove"`
}

// Validate checks every name and value (OverrideValues).
func (a UpdateOverridesArgs) Validate() error {
	_, err := OverrideValues(a.Overrides)
	return err
}

// ApplyOverridesArgs is apply_overrides: the values are applied to the running server at once where the server
// allows it (dynamic parameters).
type ApplyOverridesArgs struct {
	Overrides map[string]any `json:"overrides"`
}

// Validate checks every name and value (OverrideValues).
func (a ApplyOverridesArgs) Validate() error {
	_, err := OverrideValues(a.Overrides)
	return err
}

// ApplyOverridesResult is what our guest answers to apply_overrides (Trove's answers null): whether a
// parameter changed since the server started still waits for a restart, and which.
type ApplyOverridesResult struct {
	RestartRequired bool     `json:"restart_required"`
	Pending         []string `json:"pending,omitempty"`
}

// ResetConfigurationArgs is reset_configuration: {"configuration": {"config_contents": str}}.
type ResetConfigurationArgs struct {
	Configuration struct {
		ConfigContents *string `json:"config_contents"`
	} `json:"configuration"`
}

// Validate accepts everything.
func (ResetConfigurationArgs) Validate() error { return nil }

// BaseConfiguration is what our guest starts a datastore's server with before any configuration group: the
// values names return to when a group stops setting them (else the server's defaults), and what GET
// /instances/{id}/configuration shows under the group's values.
func BaseConfiguration(manager string) map[string]string {
	switch manager {
	case "mysql", "mariadb":
		return map[string]string{"innodb_log_file_size": "16M", "innodb_buffer_pool_size": "32M", "performance_schema": "OFF"}
	case "postgresql":
		return map[string]string{"shared_buffers": "16MB", "max_connections": "50"}
	}
	return map[string]string{}
}

var overrideName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,127}$`)

// OverrideValues checks configuration overrides and returns each value as the text a server's configuration
// file takes: booleans 1/0 (MariaDB and PostgreSQL both read them), numbers as sent (integers of any size),
// strings without control characters or quotes. Names are option names (letters, digits, _ . -).
func OverrideValues(overrides map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(overrides))
	for k, v := range overrides {
		if !overrideName.MatchString(k) {
			return nil, fmt.Errorf("configuration parameter name %q is not valid", k)
		}
		var s string
		switch x := v.(type) {
		case bool:
			s = map[bool]string{true: "1", false: "0"}[x]
		case json.Number:
			if !IsNumber(string(x)) {
				return nil, fmt.Errorf("configuration parameter %s: %q is not a number", k, x)
			}
			s = string(x)
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("configuration parameter %s: %v is not a number", k, x)
			}
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case int:
			s = strconv.Itoa(x)
		case int64:
			s = strconv.FormatInt(x, 10)
		case string:
			if strings.ContainsAny(x, "'\"\\`#;") || strings.IndexFunc(x, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
				return nil, fmt.Errorf("configuration parameter %s: the value holds a quote, backslash, # ; or a control character", k)
			}
			s = x
		default:
			return nil, fmt.Errorf("configuration parameter %s: a %T value is not supported", k, v)
		}
		if len(s) > 255 {
			return nil, fmt.Errorf("configuration parameter %s: the value is longer than 255 characters", k)
		}
		out[k] = s
	}
	return out, nil
}

// IsNumber reports whether s is a decimal number as JSON writes it (integers of any size, fractions,
// exponents): a server takes it bare, unquoted.
func IsNumber(s string) bool {
	return jsonNumber.MatchString(s)
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// UpdateOverrides calls update_overrides (high).
func (c *Client) UpdateOverrides(ctx context.Context, rc rpc.Context, a UpdateOverridesArgs) error {
	if a.Overrides == nil {
		a.Overrides = map[string]any{}
	}
	return c.call(ctx, rc, MethodUpdateOverrides, a, nil, c.High)
}

// ApplyOverrides calls apply_overrides (high). Trove's guest answers null: a nil result (it does not say
// whether a restart is needed).
func (c *Client) ApplyOverrides(ctx context.Context, rc rpc.Context, a ApplyOverridesArgs) (*ApplyOverridesResult, error) {
	if a.Overrides == nil {
		a.Overrides = map[string]any{}
	}
	var r *ApplyOverridesResult
	err := c.call(ctx, rc, MethodApplyOverrides, a, &r, c.High)
	return r, err
}

// decodeOverrides reads an overrides object keeping numbers as written (json.Number): integers above 2^53
// (18446744073709551615 is a MariaDB maximum) must reach the server unrounded.
func decodeOverrides(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("overrides: %w", err)
	}
	return m, nil
}

// UnmarshalJSON keeps override numbers exact (decodeOverrides).
func (a *UpdateOverridesArgs) UnmarshalJSON(b []byte) error {
	var raw struct {
		Overrides json.RawMessage `json:"overrides"`
		Remove    bool            `json:"remove"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	m, err := decodeOverrides(raw.Overrides)
	*a = UpdateOverridesArgs{Overrides: m, Remove: raw.Remove}
	return err
}

// UnmarshalJSON keeps override numbers exact (decodeOverrides).
func (a *ApplyOverridesArgs) UnmarshalJSON(b []byte) error {
	var raw struct {
		Overrides json.RawMessage `json:"overrides"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	m, err := decodeOverrides(raw.Overrides)
	*a = ApplyOverridesArgs{Overrides: m}
	return err
}

// UnmarshalJSON keeps prepare's override numbers exact (decodeOverrides).
func (a *PrepareArgs) UnmarshalJSON(b []byte) error {
	type plain PrepareArgs
	var raw struct {
		plain
		Overrides json.RawMessage `json:"overrides"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*a = PrepareArgs(raw.plain)
	m, err := decodeOverrides(raw.Overrides)
	a.Overrides = m
	return err
}
