package mysql

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// baseConfig is the server's own settings: the base configuration with the flavor settings over it (option
// file order: these first, a configuration group's overrides after them win). A name reset by detaching a group returns to this value, else to the server's default.
func (m *Manager) baseConfig() map[string]string {
	base := datastore.BaseSettings(m.opts.Layout, "mysql")
	for k, v := range m.replicationSettings() {
		base[k] = v
	}
	return base
}

func (m *Manager) configFile() string { return filepath.Join(m.opts.Layout.State(), "mysqld.cnf") }

// writeConfig renders <state>/mysqld.cnf: [mysqld] with the base settings, then the recorded overrides.
func (m *Manager) writeConfig() (string, error) {
	o, err := datastore.LoadOverrides(m.opts.Layout)
	if err != nil {
		return "", err
	}
	return m.configFile(), m.WriteOverrides(o.Values)
}

// WriteOverrides renders the option file with values as the configuration group's overrides.
func (m *Manager) WriteOverrides(values map[string]string) error {
	base := m.baseConfig()
	var b strings.Builder
	b.WriteString("# Written by trove-guestagent: base settings, then the configuration group's overrides.\n[mysqld]\n")
	for _, k := range datastore.SortedKeys(base) {
		if _, overridden := values[k]; !overridden {
			fmt.Fprintf(&b, "%s = %s\n", k, base[k])
		}
	}
	b.WriteString("# overrides (update_overrides)\n")
	for _, k := range datastore.SortedKeys(values) {
		fmt.Fprintf(&b, "%s = %s\n", k, values[k])
	}
	return datastore.WriteFileAtomic(m.configFile(), []byte(b.String()), 0o600)
}

var variableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// MariaDB errors ApplyOverrides tells apart.
const (
	errReadOnlyVariable = 1238 // ER_INCORRECT_GLOBAL_LOCAL_VAR: "Variable '%s' is a read only variable"
	errUnknownVariable  = 1193 // ER_UNKNOWN_SYSTEM_VARIABLE: an option that is no variable (read at start only)
)

// ApplyOverrides runs SET GLOBAL for each value, and for each reset name back to the base setting (else the
// server's DEFAULT). Read-only variables and options that are no variables wait for a restart.
func (m *Manager) ApplyOverrides(ctx context.Context, values map[string]string, reset []string) ([]string, error) {
	db, err := m.admin()
	if err != nil {
		return nil, err
	}
	base := m.baseConfig()
	var restart []string
	set := func(name, expr string, args ...any) error {
		v := strings.ReplaceAll(name, "-", "_")
		if !variableName.MatchString(v) {
			restart = append(restart, name) // not a variable name: the option file applies it at start
			return nil
		}
		_, err := db.ExecContext(ctx, "SET GLOBAL "+v+" = "+expr, args...)
		var me *gomysql.MySQLError
		if errors.As(err, &me) && (me.Number == errReadOnlyVariable || me.Number == errUnknownVariable) {
			restart = append(restart, name)
			return nil
		}
		if err != nil {
			return fmt.Errorf("SET GLOBAL %s: %w", v, redact(err))
		}
		return nil
	}
	for _, k := range datastore.SortedKeys(values) {
		expr, args := literal(values[k])
		if err := set(k, expr, args...); err != nil {
			return restart, err
		}
	}
	for _, k := range reset {
		if _, again := values[k]; again {
			continue
		}
		expr, args := "DEFAULT", []any(nil)
		if v, ok := base[strings.ReplaceAll(k, "-", "_")]; ok {
			expr, args = literal(v)
		}
		if err := set(k, expr, args...); err != nil {
			return restart, err
		}
	}
	return restart, nil
}

// literal is a value as SET GLOBAL takes it: numbers bare (a quoted number is refused for numeric variables),
// anything else a quoted string (go-sql-driver interpolates the argument).
func literal(v string) (string, []any) {
	if guestapi.IsNumber(v) {
		return v, nil
	}
	return "?", []any{v}
}
