// Package postgresql is the datastore Manager for the postgresql manager: it runs PostgreSQL's server binaries
// (initdb, postgres) as the postgres user on the instance's data directory and administers the server with
// the real psql client over a private unix socket as the bootstrap superuser os_admin (no Go driver linked).
package postgresql

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

const (
	adminUser = "os_admin"
	// rootUser is Trove's PostgreSQL root (PgSqlAdmin.build_root_user): a superuser login role named root, as on
	// every datastore. It is reserved for the root API whatever ignore_users says.
	rootUser = "root"
	// legacyRoot is the role this agent enabled as root before it used root; disable_root locks it too.
	legacyRoot = "postgres"
)

// Manager implements datastore.Manager for PostgreSQL.
type Manager struct {
	*datastore.Server
	opts  datastore.Options
	rules guestapi.Rules
	cred  *syscall.Credential // postgres refuses to run as root
}

var _ datastore.Manager = (*Manager)(nil)

// New returns the manager; nothing is started.
func New(opts datastore.Options) (*Manager, error) {
	rules, err := guestapi.RulesFor("postgresql")
	if err != nil {
		return nil, err
	}
	cred, err := datastore.ServiceUser("postgres")
	if err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, rules: rules, cred: cred}
	m.Server = &datastore.Server{
		Opts: opts,
		Proc: &datastore.Process{Name: "postgres", PIDFile: filepath.Join(opts.Layout.Data(), "postmaster.pid"),
			Match: opts.Layout.Data(), StopSignal: syscall.SIGINT, Log: opts.Log},
		Command: m.serverCommand,
		Ping:    func(ctx context.Context) error { _, err := m.query(ctx, "postgres", "SELECT 1"); return err },
	}
	return m, nil
}

func (m *Manager) bin(name string) (string, error) {
	fallback, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(fallback))) // newest major first (single digits sort fine from 10 up)
	return datastore.FindBinary(m.opts.BinDir, name, fallback...)
}

func (m *Manager) serverCommand() (datastore.Command, error) {
	bin, err := m.bin("postgres")
	if err != nil {
		return datastore.Command{}, err
	}
	l := m.opts.Layout
	if err := m.writeConfig(); err != nil {
		return datastore.Command{}, err
	}
	archive, err := m.archiveArgs() // backup.go
	if err != nil {
		return datastore.Command{}, err
	}
	// Settings a configuration group may override are in the included file (writeConfig); the command line
	// wins over every file, so what is set here cannot be overridden.
	return datastore.Command{Path: bin, RunAs: m.cred, LogFile: filepath.Join(l.Log(), "postgres.log"), Args: append([]string{
		"-D", l.Data(), "-k", l.Run(), "-h", m.opts.BindHost, "-p", fmt.Sprint(m.opts.Port),
		"-c", "unix_socket_permissions=0700",
		// never write a failing statement (it may hold a password) to the server log
		"-c", "log_min_error_statement=panic",
	}, archive...)}, nil
}

// Prepare runs initdb once (trust on the private socket, SCRAM over TCP), then starts the server.
func (m *Manager) Prepare(ctx context.Context, _ datastore.PrepareSpec) error {
	l := m.opts.Layout
	if err := l.Make(m.cred); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(l.Data(), "PG_VERSION")); err != nil {
		initdb, err := m.bin("initdb")
		if err != nil {
			return err
		}
		out, err := datastore.Run(datastore.Command{Path: initdb, RunAs: m.cred, Args: []string{
			"-D", l.Data(), "-U", adminUser, "-E", "UTF8", "--locale=C.UTF-8",
			"--auth-local=trust", "--auth-host=scram-sha-256"}})
		if err != nil {
			_ = os.WriteFile(filepath.Join(l.Log(), "initdb.log"), out, 0o600)
			return fmt.Errorf("initdb (the postgres user must be able to reach %s): %w", l.Data(), err)
		}
		hba := "host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n"
		f, err := os.OpenFile(filepath.Join(l.Data(), "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString(hba)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return m.Start(ctx)
}

// query runs SQL through the psql client as os_admin on database db; rows are returned split into fields.
// Values only ever appear inside quoted literals or identifiers (lit, ident), where psql does no variable or
// meta-command processing.
func (m *Manager) query(ctx context.Context, db, sql string) ([][]string, error) {
	bin, err := m.bin("psql")
	if err != nil {
		return nil, err
	}
	return psql(ctx, bin, m.opts.Layout.Run(), m.opts.Port, adminUser, "", db, sql)
}

// psql runs sql with the psql client bin on host:port (a socket directory or an address) as user, with
// password when not "" (in the environment, never on the command line); rows are returned split into fields.
func psql(ctx context.Context, bin, host string, port int, user, password, db, sql string) ([][]string, error) {
	cmd := exec.CommandContext(ctx, bin, "-X", "-q", "-A", "-t", "-0", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
		"-h", host, "-p", fmt.Sprint(port), "-U", user, "-d", db)
	cmd.Stdin = strings.NewReader(sql)
	cmd.Env = []string{"PGCONNECT_TIMEOUT=5", "PATH=/usr/bin:/bin"}
	if password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+password)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("psql: %w: %s", err, errorLines(stderr.String()))
	}
	var rows [][]string
	for _, rec := range strings.Split(stdout.String(), "\x00") {
		rec = strings.TrimSuffix(rec, "\n")
		if rec == "" {
			continue
		}
		rows = append(rows, strings.Split(rec, "\x1f"))
	}
	return rows, nil
}

func (m *Manager) exec(ctx context.Context, sql string) error {
	_, err := m.query(ctx, "postgres", sql)
	return err
}

// errorLines keeps psql's ERROR/FATAL lines: its "LINE n:" context echoes the statement, which may carry a
// password literal.
func errorLines(stderr string) string {
	var keep []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "ERROR:") || strings.HasPrefix(l, "FATAL:") || strings.HasPrefix(l, "psql: error:") {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	return strings.Join(keep, "; ")
}

// ident quotes an identifier; lit quotes a literal (standard_conforming_strings is on). Validation already
// refused NUL and control characters.
func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func lit(s string) string   { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (m *Manager) checkDB(s guestapi.Schema) error {
	if err := m.rules.ValidateSchema(s); err != nil {
		return datastore.Errorf(datastore.KindBadRequest, "%v", err)
	}
	if datastore.Ignored(m.opts.IgnoreDBs, s.Name) || m.rules.ReservedDatabase(s.Name) {
		return datastore.Errorf(datastore.KindBadRequest, "database %q is reserved", s.Name)
	}
	if err := m.rules.CheckCharset(s); err != nil { // what trove-api checks (pkg/charsets)
		return datastore.Errorf(datastore.KindBadRequest, "%v", err)
	}
	return nil
}

func (m *Manager) dbExists(ctx context.Context, name string) (bool, error) {
	rows, err := m.query(ctx, "postgres", "SELECT 1 FROM pg_database WHERE datname = "+lit(name))
	return len(rows) > 0, err
}

// CreateDatabases creates each missing database (encoding/collation from the schema; template0 then).
func (m *Manager) CreateDatabases(ctx context.Context, dbs []guestapi.Schema) error {
	for _, d := range dbs {
		if err := m.checkDB(d); err != nil {
			return err
		}
	}
	for _, d := range dbs {
		ok, err := m.dbExists(ctx, d.Name)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		q := "CREATE DATABASE " + ident(d.Name)
		collate := ""
		if d.Collate != nil {
			collate = *d.Collate
		}
		if d.CharacterSet != nil && *d.CharacterSet != "" {
			// a non-UTF8 encoding needs a matching ctype; C fits every encoding
			if collate == "" {
				collate = "C"
			}
			q += " ENCODING " + lit(*d.CharacterSet) + " LC_CTYPE " + lit(collate)
		}
		if collate != "" {
			q += " LC_COLLATE " + lit(collate) + " TEMPLATE template0"
		}
		if err := m.exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// ListDatabases lists the non-template, non-reserved databases.
func (m *Manager) ListDatabases(ctx context.Context, a guestapi.ListArgs) (guestapi.DatabasePage, error) {
	rows, err := m.query(ctx, "postgres", "SELECT datname, pg_encoding_to_char(encoding), datcollate FROM pg_database WHERE NOT datistemplate")
	if err != nil {
		return guestapi.DatabasePage{}, err
	}
	var all []guestapi.Schema
	for _, r := range rows {
		if len(r) != 3 || datastore.Ignored(m.opts.IgnoreDBs, r[0]) {
			continue
		}
		all = append(all, guestapi.Schema{Name: r[0], CharacterSet: &r[1], Collate: &r[2]})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return datastore.Paginate(all, func(s guestapi.Schema) string { return s.Name }, a), nil
}

// DeleteDatabase drops the database, disconnecting its sessions.
func (m *Manager) DeleteDatabase(ctx context.Context, d guestapi.Schema) error {
	if err := m.checkDB(guestapi.Schema{Name: d.Name}); err != nil {
		return err
	}
	return m.exec(ctx, "DROP DATABASE IF EXISTS "+ident(d.Name)+" WITH (FORCE)")
}
