package catalog

import (
	"context"
	"encoding/json"
	"strings"
)

// ConfigurationOverrides returns a group's values as the guest receives them (Trove's
// get_configuration_overrides): typed by their parameters' data types — integers and floats as exact
// json.Number, booleans as bool, strings as stored — and whether any of them needs a restart (Trove's
// does_configuration_need_restart). A value whose parameter is gone is sent as stored text.
func (d *DB) ConfigurationOverrides(ctx context.Context, configurationID, versionID string) (map[string]any, bool, error) {
	stored, err := d.ConfigurationValues(ctx, configurationID)
	if err != nil {
		return nil, false, err
	}
	params, err := d.ConfigParams(ctx, versionID)
	if err != nil {
		return nil, false, err
	}
	byName := make(map[string]*ConfigParam, len(params))
	for i := range params {
		byName[strings.ToLower(params[i].Name)] = &params[i]
	}
	out := make(map[string]any, len(stored))
	restart := false
	for k, s := range stored {
		p, ok := byName[strings.ToLower(k)]
		if !ok {
			out[k] = s
			continue
		}
		restart = restart || p.RestartRequired
		switch p.DataType {
		case "boolean":
			out[k] = s == "1" || strings.EqualFold(s, "true")
		case "integer", "float":
			var n json.Number
			if json.Unmarshal([]byte(s), &n) == nil && n != "" {
				out[k] = n
			} else {
				out[k] = s
			}
		default:
			out[k] = s
		}
	}
	return out, restart, nil
}
