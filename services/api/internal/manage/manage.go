// Package manage implements trove-manage: Trove's catalog administration commands (db_sync, db_upgrade,
// db_version, datastore_update, datastore_version_update, db_load/remove_datastore_config_parameters,
// datastore_version_flavor_add/delete, datastore_version_volume_type_add/delete/list) with Trove's arguments and
// messages. Unlike Trove, every failure is reported on stderr with a non-zero exit status.
package manage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/trove-go/trove/db"
	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/config"
)

// Exit statuses.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// Manager runs one trove-manage invocation.
type Manager struct {
	Out, Err io.Writer
	// DefaultConfigFiles are tried, in order, when no --config-file or --config-dir is given (oslo.config's
	// search path for project trove).
	DefaultConfigFiles []string

	conf *config.File
	db   *catalog.DB
}

// New returns a Manager writing to stdout/stderr with oslo.config's default search path.
func New() *Manager {
	home, _ := os.UserHomeDir()
	return &Manager{
		Out: os.Stdout, Err: os.Stderr,
		DefaultConfigFiles: []string{home + "/.trove/trove.conf", home + "/trove.conf", "/etc/trove/trove.conf", "/etc/trove.conf"},
	}
}

// Run executes argv (without the program name) and returns the exit status.
func (m *Manager) Run(ctx context.Context, argv []string) int {
	var paths config.Paths
	var rest []string
	help := false
	for i := 0; i < len(argv); i++ {
		s := argv[i]
		name, val, hasVal := strings.Cut(s, "=")
		switch name {
		case "--config-file", "--config-dir":
			if !hasVal {
				if i+1 >= len(argv) {
					return m.usageFail(&UsageError{Msg: "argument " + name + ": expected one argument", Usage: globalUsage})
				}
				i++
				val = argv[i]
			}
			if name == "--config-file" {
				paths.Files = append(paths.Files, val)
			} else {
				paths.Dirs = append(paths.Dirs, val)
			}
			continue
		case "-h", "--help":
			help = true
			continue
		case "--debug", "-d", "--verbose", "-v":
			continue // accepted for compatibility; trove-manage logs warnings and errors only
		}
		rest = append(rest, s)
	}
	if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
		if help {
			m.writeHelp()
			return ExitOK
		}
		if len(rest) > 0 {
			return m.usageFail(&UsageError{Msg: "unrecognized argument: " + rest[0], Usage: globalUsage})
		}
		return m.usageFail(&UsageError{Msg: "a command is required", Usage: globalUsage})
	}
	cmd := lookup(rest[0])
	if cmd == nil {
		return m.usageFail(&UsageError{Msg: fmt.Sprintf("invalid choice: %q (choose from %s)", rest[0], strings.Join(commandNames(), ", ")), Usage: globalUsage})
	}
	if help {
		cmd.writeHelp(m.Out)
		return ExitOK
	}
	a, err := cmd.parse(rest[1:])
	if err != nil {
		return m.usageFail(err)
	}
	if err := m.loadConfig(paths); err != nil {
		fmt.Fprintf(m.Err, "trove-manage: %v\n", err)
		return ExitError
	}
	defer func() {
		if m.db != nil {
			m.db.Close()
		}
	}()
	if err := cmd.run(m, ctx, a); err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			if ue.Usage == "" {
				ue.Usage = cmd.usage()
			}
			return m.usageFail(ue)
		}
		fmt.Fprintf(m.Err, "trove-manage %s: %v\n", cmd.name, err)
		return ExitError
	}
	return ExitOK
}

func (m *Manager) usageFail(err error) int {
	var ue *UsageError
	if errors.As(err, &ue) {
		fmt.Fprint(m.Err, ue.Usage)
		fmt.Fprintf(m.Err, "trove-manage: error: %s\n", ue.Msg)
	} else {
		fmt.Fprintf(m.Err, "trove-manage: error: %v\n", err)
	}
	return ExitUsage
}

func (m *Manager) loadConfig(paths config.Paths) error {
	if len(paths.Files) == 0 && len(paths.Dirs) == 0 {
		for _, f := range m.DefaultConfigFiles {
			if _, err := os.Stat(f); err == nil {
				paths.Files = []string{f}
				break
			}
		}
		if len(paths.Files) == 0 {
			return errors.New("no configuration file found; pass --config-file /etc/trove/trove.conf")
		}
	}
	conf, err := config.Load(paths)
	if err != nil {
		return err
	}
	m.conf = conf
	return conf.Err()
}

// catalog opens the catalog named by [database] connection.
func (m *Manager) catalog() (*catalog.DB, error) {
	if m.db != nil {
		return m.db, nil
	}
	conn := m.conf.String("database", "connection", "")
	if conn == "" {
		return nil, fmt.Errorf("[database] connection is not set in %s (e.g. mysql+pymysql://trove:PASSWORD@127.0.0.1/trove)", strings.Join(m.conf.Sources(), ", "))
	}
	d, err := catalog.Open(conn)
	if err != nil {
		return nil, err
	}
	m.db = d
	return d, nil
}

const globalUsage = "usage: trove-manage [-h] [--config-file PATH] [--config-dir DIR] COMMAND ...\n"

func (m *Manager) writeHelp() {
	fmt.Fprint(m.Out, globalUsage)
	fmt.Fprintf(m.Out, "\n%s\n\noptions:\n", wrap("Trove catalog administration: schema migrations and datastore registration. "+
		"The catalog is the database named by [database] connection in the configuration files.", 0))
	item(m.Out, "-h, --help", "show this help message and exit; COMMAND --help shows the arguments of one command")
	item(m.Out, "--config-file PATH", "configuration file (repeatable; later files override earlier ones). Default: the first of ~/.trove/trove.conf, ~/trove.conf, /etc/trove/trove.conf, /etc/trove.conf")
	item(m.Out, "--config-dir DIR", "directory whose *.conf files are read in alphabetical order (repeatable)")
	fmt.Fprint(m.Out, "\ncommands:\n")
	for _, c := range commands {
		item(m.Out, c.name, firstSentence(c.help))
	}
	fmt.Fprint(m.Out, `
examples:
  trove-manage --config-file /etc/trove/trove.conf db_sync
  trove-manage --config-file /etc/trove/trove.conf datastore_update mysql ''
  trove-manage --config-file /etc/trove/trove.conf datastore_version_update mysql 8.0 mysql '' '' 1 --image-tags trove,mysql
  trove-manage --config-file /etc/trove/trove.conf datastore_update mysql 8.0

exit status: 0 success, 1 the command failed (message on stderr), 2 invalid command line.
`)
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func commandNames() []string {
	var out []string
	for _, c := range commands {
		out = append(out, c.name)
	}
	sort.Strings(out)
	return out
}

// parseActive accepts Trove's 0/1 and also true/false (any other integer is true, as Python's int is).
func parseActive(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off":
		return false, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return false, fmt.Errorf("argument ACTIVE: invalid value %q (use 0 or 1)", s)
	}
	return n != 0, nil
}

// parseTarget reads db_upgrade --version: our migration number or a Trove alembic revision (Trove's head
// revision means our head: the migrations after it only add tables of ours).
func parseTarget(s string) (uint, error) {
	if s == db.AlembicHead {
		return db.Head, nil
	}
	if v, ok := db.AlembicRevisions[s]; ok {
		return v, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > db.Head {
		return 0, fmt.Errorf("--version %q is neither a migration number (1-%d) nor a known alembic revision", s, db.Head)
	}
	return uint(n), nil
}
