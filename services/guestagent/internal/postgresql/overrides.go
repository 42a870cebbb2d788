package postgresql

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// baseConfig is the server's own settings (the base configuration with the flavor settings over it),
// written before a configuration group's overrides (the later line wins): a name no group sets any more returns to this value (or to PostgreSQL's default) at the next reload.
func (m *Manager) baseConfig() map[string]string {
	return datastore.BaseSettings(m.opts.Layout, "postgresql")
}

// overridesFile is included at the end of postgresql.conf (relative to the data directory).
const overridesFile = "trove_overrides.conf"

const includeLine = "include_if_exists = '" + overridesFile + "'\n"

// writeConfig makes postgresql.conf include the overrides file (once) and renders it from the record.
func (m *Manager) writeConfig() error {
	conf := filepath.Join(m.opts.Layout.Data(), "postgresql.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), includeLine) {
		f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString("\n# trove-guestagent: base settings and the configuration group's overrides\n" + includeLine)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	o, err := datastore.LoadOverrides(m.opts.Layout)
	if err != nil {
		return err
	}
	return m.WriteOverrides(o.Values)
}

// WriteOverrides renders the included file: base settings, then values (quoted literals). Before initdb
// (prepare with a configuration group) nothing is written: initdb wants an empty directory, and the server's
// start renders the file from the record.
func (m *Manager) WriteOverrides(values map[string]string) error {
	if _, err := os.Stat(filepath.Join(m.opts.Layout.Data(), "PG_VERSION")); err != nil {
		return nil
	}
	base := m.baseConfig()
	if _, err := os.Stat(m.replSecretFile()); err == nil { // a replication source (replication.go)
		for k, v := range m.sourceSettings() {
			if _, set := base[k]; !set {
				base[k] = v
			}
		}
	}
	repl := m.replicationSettings()
	var b strings.Builder
	b.WriteString("# Written by trove-guestagent: base settings, then the configuration group's overrides.\n")
	for _, k := range datastore.SortedKeys(base) {
		if _, overridden := values[k]; !overridden { // one line per name: a duplicate may read as pending
			fmt.Fprintf(&b, "%s = %s\n", k, lit(base[k]))
		}
	}
	b.WriteString("# overrides (update_overrides)\n")
	for _, k := range datastore.SortedKeys(values) {
		if _, fixed := repl[k]; !fixed {
			fmt.Fprintf(&b, "%s = %s\n", k, lit(values[k]))
		}
	}
	if len(repl) > 0 {
		b.WriteString("# the replication source this standby follows (attach_replica)\n")
		for _, k := range datastore.SortedKeys(repl) {
			fmt.Fprintf(&b, "%s = %s\n", k, lit(repl[k]))
		}
	}
	path := filepath.Join(m.opts.Layout.Data(), overridesFile)
	if err := datastore.WriteFileAtomic(path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	if m.cred != nil {
		return os.Chown(path, int(m.cred.Uid), int(m.cred.Gid))
	}
	return nil
}

// ApplyOverrides reloads the configuration files (pg_reload_conf): values and resets of dynamic parameters
// take effect at once; it returns the parameters PostgreSQL reports as pending_restart. The file already holds
// the values (update_overrides); values are not written again.
func (m *Manager) ApplyOverrides(ctx context.Context, _ map[string]string, _ []string) ([]string, error) {
	before, err := m.query(ctx, "postgres", "SELECT pg_conf_load_time()")
	if err != nil {
		return nil, err
	}
	if err := m.exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return nil, err
	}
	// The postmaster reloads on SIGHUP, asynchronously: a new session shows its load time once it did.
	deadline := time.Now().Add(10 * time.Second)
	for {
		now, err := m.query(ctx, "postgres", "SELECT pg_conf_load_time()")
		if err != nil {
			return nil, err
		}
		if fmt.Sprint(now) != fmt.Sprint(before) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("postgres did not reload its configuration within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	rows, err := m.query(ctx, "postgres", "SELECT name FROM pg_settings WHERE pending_restart ORDER BY name")
	if err != nil {
		return nil, err
	}
	var restart []string
	for _, r := range rows {
		restart = append(restart, r[0])
	}
	// A value the server refused leaves the old one in force (logged by postgres); report it too.
	errs, err := m.query(ctx, "postgres", "SELECT name, coalesce(error, '') FROM pg_file_settings WHERE error IS NOT NULL AND error <> 'setting could not be applied' AND sourcefile LIKE "+lit("%"+overridesFile))
	if err == nil && len(errs) > 0 {
		return restart, fmt.Errorf("postgres refused configuration values: %v", errs)
	}
	return restart, nil
}
