package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/trove-go/trove/pkg/config"
)

// DefaultPolicyFile is [oslo_policy] policy_file's default.
const DefaultPolicyFile = "policy.yaml"

// Load builds an Enforcer from the defaults and the overrides in the policy file at path. A missing file means
// "defaults only", as in oslo.policy; a file that cannot be read or parsed is an error.
func Load(path string) (*Enforcer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return New(nil)
	}
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	overrides, err := ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", path, err)
	}
	e, err := New(overrides)
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", path, err)
	}
	return e, nil
}

// FromConfig loads the policy named by [oslo_policy] policy_file (a relative name is looked up, as oslo.config
// does, next to each loaded configuration file, then in /etc/trove and /etc) and applies [DEFAULT] admin_roles.
func FromConfig(file *config.File) (*Enforcer, error) {
	name := file.String("oslo_policy", "policy_file", DefaultPolicyFile)
	e, err := Load(findFile(name, file.Sources()))
	if err != nil {
		return nil, err
	}
	return e.WithAdminRoles(file.List("DEFAULT", "admin_roles", nil)), nil
}

func findFile(name string, configFiles []string) string {
	if filepath.IsAbs(name) {
		return name
	}
	var dirs []string
	for _, f := range configFiles {
		dirs = append(dirs, filepath.Dir(f))
	}
	dirs = append(dirs, "/etc/trove", "/etc")
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return name
}

// ParseFile reads a policy file's "rule name": "expression" map. JSON (a document starting with "{") is
// decoded with encoding/json; anything else is read as the flat YAML mapping oslo.policy's sample generator
// writes: one `key: value` per line, keys and values plain, 'single-' or "double-quoted", # comments.
// Nested YAML (lists, blocks, multi-line scalars) is rejected rather than guessed at.
func ParseFile(data []byte) (map[string]string, error) {
	if t := strings.TrimSpace(string(data)); strings.HasPrefix(t, "{") {
		var m map[string]string
		if err := json.Unmarshal([]byte(t), &m); err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		return m, nil
	}
	return parseYAML(string(data))
}

func parseYAML(text string) (map[string]string, error) {
	m := make(map[string]string)
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		line = strings.TrimRight(line, " \t\r")
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || trimmed == "---" || trimmed == "..." {
			continue
		}
		if trimmed != line {
			return nil, fmt.Errorf("line %d: indented lines (nested YAML) are not supported", n)
		}
		key, rest, err := yamlScalar(line, true)
		if err != nil {
			return nil, fmt.Errorf("line %d: key: %w", n, err)
		}
		rest = strings.TrimLeft(rest, " \t")
		if !strings.HasPrefix(rest, ":") {
			return nil, fmt.Errorf("line %d: expected \"key: value\"", n)
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		var value string
		if rest != "" && !strings.HasPrefix(rest, "#") {
			value, rest, err = yamlScalar(rest, false)
			if err != nil {
				return nil, fmt.Errorf("line %d: value: %w", n, err)
			}
			if rest = strings.TrimLeft(rest, " \t"); rest != "" && !strings.HasPrefix(rest, "#") {
				return nil, fmt.Errorf("line %d: unexpected %q after value", n, rest)
			}
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("line %d: rule %q given twice", n, key)
		}
		m[key] = value
	}
	return m, nil
}

// yamlScalar reads one scalar at the start of s and returns it and the rest of s. A plain key ends at ": " (or
// ":" at the end); a plain value ends at " #".
func yamlScalar(s string, isKey bool) (string, string, error) {
	switch s[0] {
	case '"':
		end := 1
		for ; end < len(s); end++ {
			if s[end] == '\\' {
				end++
				continue
			}
			if s[end] == '"' {
				break
			}
		}
		if end >= len(s) {
			return "", "", errors.New("unterminated double-quoted string")
		}
		v, err := strconv.Unquote(s[:end+1])
		if err != nil {
			return "", "", fmt.Errorf("double-quoted string: %w", err)
		}
		return v, s[end+1:], nil
	case '\'':
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				return b.String(), s[i+1:], nil
			}
			b.WriteByte(s[i])
		}
		return "", "", errors.New("unterminated single-quoted string")
	case '!', '&', '*', '@', '`', '|', '>', '{', '[', '%', '-', '?', ',', ']', '}':
		// YAML gives these a meaning at the start of a plain scalar ("!" is a tag, not oslo's "never").
		return "", "", fmt.Errorf("%q must be quoted", s)
	}
	if isKey {
		for i := 0; i < len(s); i++ {
			if s[i] == ':' && (i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\t') {
				return strings.TrimRight(s[:i], " \t"), s[i:], nil
			}
		}
		return "", "", errors.New("missing \":\"")
	}
	if i := strings.Index(s, " #"); i >= 0 {
		return strings.TrimRight(s[:i], " \t"), s[i:], nil
	}
	return s, "", nil
}
