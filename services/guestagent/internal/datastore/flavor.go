package datastore

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"

	"github.com/trove-go/trove/pkg/guestapi"
)

// The flavor settings are the memory-derived values of Trove's configuration templates (guestapi.FlavorKeys)
// as the control plane rendered them for the instance's flavor: at prepare (config_contents) and after a
// flavor resize (start_db_with_conf_changes). They sit between the guest's fixed base settings and a
// configuration group's overrides.
func flavorPath(l Layout) string { return filepath.Join(l.State(), "flavor.json") }

// SaveFlavorSettings records the flavor settings atomically (0600); the next server start reads them.
func SaveFlavorSettings(l Layout, values map[string]string) error {
	b, err := json.Marshal(values)
	if err != nil {
		return err
	}
	return WriteFileAtomic(flavorPath(l), b, 0o600)
}

// BaseSettings is what the server starts with before a configuration group's overrides: the guest's base
// configuration with the recorded flavor settings over it (none recorded: the base alone), and the settings of
// the guest logs turned on (guest_log_action) over those.
func BaseSettings(l Layout, manager string) map[string]string {
	out := baseAndFlavor(l, manager)
	maps.Copy(out, logSettings(l)) // the guest logs turned on (guestlog.go)
	return out
}

func baseAndFlavor(l Layout, manager string) map[string]string {
	out := maps.Clone(guestapi.BaseConfiguration(manager))
	b, err := os.ReadFile(flavorPath(l))
	if err != nil { // none recorded (an instance prepared before flavor settings existed)
		return out
	}
	var v map[string]string
	if json.Unmarshal(b, &v) != nil {
		return out
	}
	for _, k := range guestapi.FlavorKeys[manager] {
		if x, ok := v[k]; ok {
			out[k] = x
		}
	}
	return out
}
