package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

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
// decoded with encoding/json; anything else is YAML (gopkg.in/yaml.v3) holding one flat mapping of scalars, as
// oslo.policy's sample generator writes it. Values are taken as written (an empty value is "", oslo's "always").
// Nested YAML (lists, mappings), tags (an unquoted "!" is a YAML tag, not oslo's "never"), anchors, aliases,
// duplicate rules and more than one document are rejected rather than guessed at.
func ParseFile(data []byte) (map[string]string, error) {
	if t := strings.TrimSpace(string(data)); strings.HasPrefix(t, "{") {
		var m map[string]string
		if err := json.Unmarshal([]byte(t), &m); err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		return m, nil
	}
	return parseYAML(data)
}

func parseYAML(data []byte) (map[string]string, error) {
	m := make(map[string]string)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return m, nil
	} else if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("yaml: line %d: one document expected", extra.Line)
	}
	if len(doc.Content) == 0 { // comments only
		return m, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("yaml: line %d: a mapping of rule names to rules expected", root.Line)
	}
	lines := strings.Split(string(data), "\n")
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		for _, n := range []*yaml.Node{key, value} {
			if err := plainScalar(n, lines); err != nil {
				return nil, fmt.Errorf("yaml: line %d: %w", n.Line, err)
			}
		}
		if _, dup := m[key.Value]; dup {
			return nil, fmt.Errorf("yaml: line %d: rule %q given twice", key.Line, key.Value)
		}
		m[key.Value] = value.Value
	}
	return m, nil
}

// plainScalar accepts a scalar without tag or anchor. yaml.v3 drops the non-specific tag "!" without a trace
// ("a: !" reads as an empty value, oslo's "always"), so the source at the node is checked too: no plain scalar
// starts with "!" or "&".
func plainScalar(n *yaml.Node, lines []string) error {
	switch {
	case n.Kind != yaml.ScalarNode:
		return errors.New("nested YAML (lists, mappings, aliases) is not supported")
	case n.Style&yaml.TaggedStyle != 0 || sourceAt(lines, n) == '!':
		return errors.New("YAML tags are not supported (quote \"!\", oslo's never)")
	case n.Anchor != "" || sourceAt(lines, n) == '&':
		return errors.New("YAML anchors are not supported")
	}
	return nil
}

// sourceAt returns the character where n starts (yaml.v3 counts lines and columns from 1, in characters).
func sourceAt(lines []string, n *yaml.Node) rune {
	if n.Line < 1 || n.Line > len(lines) || n.Column < 1 {
		return 0
	}
	if r := []rune(lines[n.Line-1]); n.Column <= len(r) {
		return r[n.Column-1]
	}
	return 0
}
