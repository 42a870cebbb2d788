package datastore

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
)

// Overrides is the guest's record of its configuration overrides (update_overrides / apply_overrides), kept in
// <state>/overrides.json: the values the server reads at start (each manager renders them into its own
// configuration file) and the names changed since the server last started that are not in force yet — a
// restart is required while Pending is not empty.
type Overrides struct {
	Values  map[string]string `json:"values"`
	Pending []string          `json:"pending,omitempty"`
}

func overridesPath(l Layout) string { return filepath.Join(l.State(), "overrides.json") }

// LoadOverrides reads the record; none yet is the empty record.
func LoadOverrides(l Layout) (Overrides, error) {
	var o Overrides
	b, err := os.ReadFile(overridesPath(l))
	if errors.Is(err, os.ErrNotExist) {
		return Overrides{Values: map[string]string{}}, nil
	}
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return o, err
	}
	if o.Values == nil {
		o.Values = map[string]string{}
	}
	return o, nil
}

// SaveOverrides replaces the record atomically (0600).
func SaveOverrides(l Layout, o Overrides) error {
	sort.Strings(o.Pending)
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return WriteFileAtomic(overridesPath(l), b, 0o600)
}

// WriteFileAtomic writes a file through a temporary file and a rename, so a server starting meanwhile reads
// either the old or the new content.
func WriteFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// SortedKeys returns m's keys in order (configuration files are written in a stable order).
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
