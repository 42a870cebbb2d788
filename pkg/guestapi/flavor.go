package guestapi

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/trove-go/trove/pkg/rpc"
)

// StartDBWithConfChangesArgs is start_db_with_conf_changes (Trove's resize flow after the server got its new
// flavor): the configuration rendered for the new flavor and, from version 1.1, the datastore version name.
type StartDBWithConfChangesArgs struct {
	ConfigContents string  `json:"config_contents"`
	DSVersion      *string `json:"ds_version,omitempty"`
}

// Validate accepts any configuration text (the guest takes from it only FlavorKeys).
func (StartDBWithConfChangesArgs) Validate() error { return nil }

// StartDBWithConfChanges calls start_db_with_conf_changes (high): version 1.1, or 1.0 without ds_version when
// the cap is below 1.1 (as Trove).
func (c *Client) StartDBWithConfChanges(ctx context.Context, rc rpc.Context, a StartDBWithConfChangesArgs) error {
	r, v, err := c.at(MethodStartDBWithConfChanges)
	if err != nil {
		return err
	}
	if v == BaseVersion {
		a.DSVersion = nil
	}
	return r.Call(ctx, rc, MethodStartDBWithConfChanges, a, nil, c.High)
}

// FlavorKeys are, per manager, the settings of Trove's configuration templates that scale with the flavor's
// RAM and that our guest takes from the configuration the control plane renders (prepare's config_contents,
// start_db_with_conf_changes after a resize). A configuration group setting one of them wins over it.
var FlavorKeys = map[string][]string{
	"mysql":      {"innodb_buffer_pool_size"},
	"mariadb":    {"innodb_buffer_pool_size"},
	"postgresql": {"effective_cache_size", "shared_buffers"},
}

// FlavorConfiguration is the memory-derived part of Trove's config templates for a flavor of ramMB:
// MySQL/MariaDB innodb_buffer_pool_size = 150·ram/512 MB; PostgreSQL shared_buffers = 25 % of RAM from 3 GB,
// else 10 %, and effective_cache_size = max(ram − 512, 512) MB. Empty for an unknown manager or no RAM.
func FlavorConfiguration(manager string, ramMB int) map[string]string {
	if ramMB <= 0 {
		return map[string]string{}
	}
	switch manager {
	case "mysql", "mariadb":
		return map[string]string{"innodb_buffer_pool_size": fmt.Sprintf("%dM", 150*ramMB/512)}
	case "postgresql":
		share := 0.10
		if ramMB >= 3072 {
			share = 0.25
		}
		return map[string]string{
			"shared_buffers":       fmt.Sprintf("%dMB", int(share*float64(ramMB))),
			"effective_cache_size": fmt.Sprintf("%dMB", max(ramMB-512, 512)),
		}
	}
	return map[string]string{}
}

var flavorValue = regexp.MustCompile(`^[1-9][0-9]{0,9}(K|M|G|kB|MB|GB)?$`)

// ParseFlavorConfiguration picks the FlavorKeys (of any manager) out of a rendered configuration (`name =
// value` lines; sections, comments and every other name ignored). A value that is not a plain size is an
// error: it would reach the server's option file.
func ParseFlavorConfiguration(contents string) (map[string]string, error) {
	var keys []string
	for _, ks := range FlavorKeys {
		keys = append(keys, ks...)
	}
	out := map[string]string{}
	for _, line := range strings.Split(contents, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		v = strings.Trim(strings.TrimSpace(v), "'\"")
		found := false
		for _, want := range keys {
			found = found || k == want
		}
		if !found {
			continue
		}
		if !flavorValue.MatchString(v) {
			return nil, fmt.Errorf("%s = %q is not a size", k, v)
		}
		out[k] = v
	}
	return out, nil
}

// RenderFlavorConfiguration renders FlavorConfiguration as lines of a configuration file, under [mysqld] for
// MySQL/MariaDB.
func RenderFlavorConfiguration(manager string, ramMB int) string {
	m := FlavorConfiguration(manager, ramMB)
	var b strings.Builder
	for _, k := range FlavorKeys[manager] {
		if v, ok := m[k]; ok {
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		}
	}
	return b.String()
}

// ResetConfiguration calls reset_configuration (high): the configuration before a failed resize.
func (c *Client) ResetConfiguration(ctx context.Context, rc rpc.Context, a ResetConfigurationArgs) error {
	return c.call(ctx, rc, MethodResetConfiguration, a, nil, c.High)
}
