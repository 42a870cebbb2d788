// Package mysql is the datastore Manager for the mysql and mariadb managers, running MariaDB's server binaries
// (mariadb-install-db, mariadbd) on the instance's data directory and administering it over the unix socket
// as os_admin, as Trove's guest does.
package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

const adminUser = "os_admin"

// Manager implements datastore.Manager for MariaDB.
type Manager struct {
	*datastore.Server
	opts  datastore.Options
	rules guestapi.Rules

	mu sync.Mutex
	db *sql.DB // os_admin over the socket, opened lazily
}

var _ datastore.Manager = (*Manager)(nil)

// New returns the manager; nothing is started.
func New(opts datastore.Options) (*Manager, error) {
	rules, err := guestapi.RulesFor(opts.Manager)
	if err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, rules: rules}
	m.Server = &datastore.Server{
		Opts:    opts,
		Proc:    &datastore.Process{Name: "mariadbd", PIDFile: m.pidFile(), Match: opts.Layout.Data(), Log: opts.Log},
		Command: m.serverCommand,
		Ping:    m.ping,
	}
	return m, m.pitrInit() // pitr.go
}

func (m *Manager) socket() string    { return filepath.Join(m.opts.Layout.Run(), "mysqld.sock") }
func (m *Manager) pidFile() string   { return filepath.Join(m.opts.Layout.Run(), "mysqld.pid") }
func (m *Manager) adminFile() string { return filepath.Join(m.opts.Layout.State(), "os_admin.secret") }

// filesDir is secure_file_priv: the only directory the server reads or writes files in for SQL.
func (m *Manager) filesDir() string { return filepath.Join(m.opts.Layout.Root, "files") }

func (m *Manager) bin(name string) (string, error) {
	return datastore.FindBinary(m.opts.BinDir, name, "/usr/sbin", "/usr/bin")
}

// rootArgs: as root, mariadbd must be told to stay root (the data directory belongs to the agent's user).
func rootArgs() []string {
	if os.Geteuid() == 0 {
		return []string{"--user=root"}
	}
	return nil
}

func (m *Manager) serverCommand() (datastore.Command, error) {
	bin, err := m.bin("mariadbd")
	if err != nil {
		return datastore.Command{}, err
	}
	// secure_file_priv: LOAD_FILE, SELECT … INTO OUTFILE/DUMPFILE and LOAD DATA INFILE reach only <volume>/files
	// (as MySQL's own default, /var/lib/mysql-files): a tenant's root can round-trip its own files there and
	// read or write nothing else (mariadbd refuses to start when the directory is missing).
	if err := os.MkdirAll(m.filesDir(), 0o700); err != nil {
		return datastore.Command{}, err
	}
	cnf, err := m.writeConfig()
	if err != nil {
		return datastore.Command{}, err
	}
	// The option file first (base settings, then the configuration group's overrides); what follows on the
	// command line wins over it and cannot be overridden.
	args := append([]string{"--defaults-file=" + cnf,
		"--datadir=" + m.opts.Layout.Data(),
		"--secure-file-priv=" + m.filesDir(),
		"--socket=" + m.socket(),
		"--pid-file=" + m.pidFile(),
		"--tmpdir=" + m.opts.Layout.Run(),
		"--bind-address=" + m.opts.BindHost,
		fmt.Sprintf("--port=%d", m.opts.Port),
		"--skip-name-resolve",
	}, rootArgs()...)
	return datastore.Command{Path: bin, Args: args, LogFile: filepath.Join(m.opts.Layout.Log(), "mariadbd.log")}, nil
}

// Prepare initializes the data directory (once), starts the server and creates os_admin (once).
func (m *Manager) Prepare(ctx context.Context, _ datastore.PrepareSpec) error {
	l := m.opts.Layout
	if err := l.Make(nil); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(l.Data(), "mysql")); errors.Is(err, os.ErrNotExist) {
		bin, err := m.bin("mariadb-install-db")
		if err != nil {
			return err
		}
		// A private tmpdir: concurrent bootstraps sharing /tmp collide on "#sql-temptable-<pid>-…" names
		// (Could not remove temporary table … errno 2 → Installation of system tables failed).
		args := append([]string{"--no-defaults", "--datadir=" + l.Data(), "--tmpdir=" + l.Run(),
			"--auth-root-authentication-method=normal", "--skip-test-db", "--innodb-log-file-size=16M"}, rootArgs()...)
		if out, err := datastore.Run(datastore.Command{Path: bin, Args: args}); err != nil {
			_ = os.WriteFile(filepath.Join(l.Log(), "install-db.log"), out, 0o600)
			return err
		}
	}
	if err := m.Start(ctx); err != nil {
		return err
	}
	return m.secure(ctx)
}

// secure creates os_admin with a generated password (kept in the state directory), removes the remote and
// anonymous accounts mariadb-install-db made, and gives root@localhost an unknown password. Repeatable: it
// finishes a bootstrap interrupted by an agent restart.
func (m *Manager) secure(ctx context.Context) error {
	if db, err := m.admin(); err == nil && db.PingContext(ctx) == nil {
		return nil
	}
	m.closeAdmin()
	pw, err := datastore.Secret(m.adminFile())
	if err != nil {
		pw = datastore.GeneratePassword(36)
		if err := datastore.WriteSecret(m.adminFile(), pw); err != nil {
			return err
		}
	}
	root, err := m.open("root", "")
	if err != nil {
		return err
	}
	defer root.Close()
	rows, err := root.QueryContext(ctx, "SELECT User, Host FROM mysql.user WHERE User = '' OR (User = 'root' AND Host != 'localhost')")
	if err != nil {
		return fmt.Errorf("bootstrapping os_admin: %w", err)
	}
	var drop [][2]string
	for rows.Next() {
		var u, h string
		if err := rows.Scan(&u, &h); err != nil {
			rows.Close()
			return err
		}
		drop = append(drop, [2]string{u, h})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	stmts := []struct {
		q    string
		args []any
	}{
		{"CREATE OR REPLACE USER ?@'localhost' IDENTIFIED BY ?", []any{adminUser, pw}},
		{"GRANT ALL PRIVILEGES ON *.* TO ?@'localhost' WITH GRANT OPTION", []any{adminUser}},
	}
	for _, d := range drop {
		stmts = append(stmts, struct {
			q    string
			args []any
		}{"DROP USER IF EXISTS ?@?", []any{d[0], d[1]}})
	}
	stmts = append(stmts, struct {
		q    string
		args []any
	}{"ALTER USER 'root'@'localhost' IDENTIFIED BY ?", []any{datastore.GeneratePassword(36)}})
	for _, s := range stmts {
		if _, err := root.ExecContext(ctx, s.q, s.args...); err != nil {
			return fmt.Errorf("bootstrapping os_admin: %w", err)
		}
	}
	m.opts.Log.Info("os_admin created, remote root and anonymous accounts removed")
	return nil
}

func (m *Manager) open(user, pw string) (*sql.DB, error) {
	c := gomysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr = user, pw, "unix", m.socket()
	c.InterpolateParams = true // client-side escaping of ? values (names, hosts, passwords)
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(1)
	return db, nil
}

func (m *Manager) admin() (*sql.DB, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.db != nil {
		return m.db, nil
	}
	pw, err := datastore.Secret(m.adminFile())
	if err != nil {
		return nil, fmt.Errorf("os_admin credentials: %w", err)
	}
	db, err := m.open(adminUser, pw)
	if err != nil {
		return nil, err
	}
	m.db = db
	return db, nil
}

func (m *Manager) closeAdmin() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.db != nil {
		m.db.Close()
		m.db = nil
	}
}

func (m *Manager) ping(ctx context.Context) error {
	db, err := m.admin()
	if err != nil {
		// before secure() ran, the server is reachable as root without a password
		root, rerr := m.open("root", "")
		if rerr != nil {
			return err
		}
		defer root.Close()
		_, rerr = root.ExecContext(ctx, "SELECT 1")
		return rerr
	}
	_, err = db.ExecContext(ctx, "SELECT 1")
	if err != nil {
		m.closeAdmin() // the server may have been restarted: reconnect next time
	}
	return err
}

// Stop stops the server and drops the admin connections.
func (m *Manager) Stop(ctx context.Context) error {
	m.closeAdmin()
	return m.Server.Stop(ctx)
}

// Restart restarts the server.
func (m *Manager) Restart(ctx context.Context) error {
	if err := m.Stop(ctx); err != nil {
		return err
	}
	return m.Start(ctx)
}

// ident quotes a database, character set or collation name.
func ident(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func (m *Manager) exec(ctx context.Context, q string, args ...any) error {
	db, err := m.admin()
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, q, args...)
	return redact(err)
}

// execSecret is exec for a statement carrying a password: on a connection of its own with the general log
// off (sql_log_off) and a long_query_time no statement reaches, so neither guest log (general, slow_query)
// records the password for the tenant to publish. Both are session settings os_admin may change.
func (m *Manager) execSecret(ctx context.Context, q string, args ...any) error {
	db, err := m.admin()
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return redact(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_off = 1, long_query_time = 31536000"); err != nil {
		return redact(err)
	}
	_, err = conn.ExecContext(ctx, q, args...)
	if _, rerr := conn.ExecContext(ctx, "SET SESSION sql_log_off = 0, long_query_time = @@GLOBAL.long_query_time"); rerr != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // never back to the pool with logging off
	}
	return redact(err)
}

// redact drops the "near '…'" part of a server error: it quotes the statement, which may carry a password.
func redact(err error) error {
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		msg := me.Message
		if i := strings.Index(msg, " near '"); i >= 0 {
			msg = msg[:i]
		}
		return fmt.Errorf("mariadb error %d: %s", me.Number, msg)
	}
	return err
}

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

// CreateDatabases creates each database if missing.
func (m *Manager) CreateDatabases(ctx context.Context, dbs []guestapi.Schema) error {
	for _, d := range dbs {
		if err := m.checkDB(d); err != nil {
			return err
		}
	}
	for _, d := range dbs {
		q := "CREATE DATABASE IF NOT EXISTS " + ident(d.Name)
		if d.CharacterSet != nil && *d.CharacterSet != "" {
			q += " CHARACTER SET " + ident(*d.CharacterSet)
		}
		if d.Collate != nil && *d.Collate != "" {
			q += " COLLATE " + ident(*d.Collate)
		}
		if err := m.exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// ListDatabases lists the non-reserved databases by name.
func (m *Manager) ListDatabases(ctx context.Context, a guestapi.ListArgs) (guestapi.DatabasePage, error) {
	db, err := m.admin()
	if err != nil {
		return guestapi.DatabasePage{}, err
	}
	rows, err := db.QueryContext(ctx, "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA")
	if err != nil {
		return guestapi.DatabasePage{}, err
	}
	defer rows.Close()
	var all []guestapi.Schema
	for rows.Next() {
		var name, cs, co string
		if err := rows.Scan(&name, &cs, &co); err != nil {
			return guestapi.DatabasePage{}, err
		}
		if !datastore.Ignored(m.opts.IgnoreDBs, name) {
			all = append(all, guestapi.Schema{Name: name, CharacterSet: &cs, Collate: &co})
		}
	}
	if err := rows.Err(); err != nil {
		return guestapi.DatabasePage{}, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return datastore.Paginate(all, func(s guestapi.Schema) string { return s.Name }, a), nil
}

// DeleteDatabase drops a database (absent: no error).
func (m *Manager) DeleteDatabase(ctx context.Context, d guestapi.Schema) error {
	if err := m.checkDB(guestapi.Schema{Name: d.Name}); err != nil {
		return err
	}
	return m.exec(ctx, "DROP DATABASE IF EXISTS "+ident(d.Name))
}
