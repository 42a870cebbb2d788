package postgresql

import (
	"context"
	"sort"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// PostgreSQL roles have no host; Trove reports "%".
const anyHost = "%"

func (m *Manager) checkUser(name, host string) error {
	if err := m.rules.ValidateUserName(name, host); err != nil {
		return datastore.Errorf(datastore.KindBadRequest, "%v", err)
	}
	if m.reserved(name) {
		return datastore.Errorf(datastore.KindBadRequest, "user %q is reserved", name)
	}
	return nil
}

// reserved: ignore_users, the root role (only the root API manages it) and PostgreSQL's pg_* roles
// (guestapi.Rules, shared with trove-api).
func (m *Manager) reserved(name string) bool {
	return datastore.Ignored(m.opts.IgnoreUsers, name) || name == rootUser || name == replUser || m.rules.ReservedUser(name)
}

func (m *Manager) checkPassword(pw string) error {
	if err := m.rules.ValidatePassword(pw); err != nil {
		return datastore.Errorf(datastore.KindBadRequest, "%v", err)
	}
	return nil
}

func (m *Manager) roleExists(ctx context.Context, name string) (bool, error) {
	rows, err := m.query(ctx, "postgres", "SELECT 1 FROM pg_roles WHERE rolname = "+lit(name))
	return len(rows) > 0, err
}

func (m *Manager) mustExist(ctx context.Context, name string) error {
	ok, err := m.roleExists(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		return datastore.Errorf(datastore.KindUserNotFound, "user %s does not exist", name)
	}
	return nil
}

// setLogin creates the login role or resets its password (idempotent for a resumed prepare).
func (m *Manager) setLogin(ctx context.Context, name, pw string, extra string) error {
	ok, err := m.roleExists(ctx, name)
	if err != nil {
		return err
	}
	verb := "CREATE ROLE "
	if ok {
		verb = "ALTER ROLE "
	}
	return m.execSecret(ctx, verb+ident(name)+" WITH LOGIN "+extra+"PASSWORD "+lit(pw))
}

// CreateUsers creates each login role and grants it its databases.
func (m *Manager) CreateUsers(ctx context.Context, users []guestapi.User) error {
	for _, u := range users {
		if err := m.checkUser(u.Name, u.Host); err != nil {
			return err
		}
		if u.Password == nil {
			return datastore.Errorf(datastore.KindBadRequest, "user %q has no password", u.Name)
		}
		if err := m.checkPassword(*u.Password); err != nil {
			return err
		}
		for _, d := range u.Databases {
			if err := m.checkDB(guestapi.Schema{Name: d.Name}); err != nil {
				return err
			}
		}
	}
	for _, u := range users {
		if err := m.setLogin(ctx, u.Name, *u.Password, ""); err != nil {
			return err
		}
		for _, d := range u.Databases {
			if err := m.grantDB(ctx, d.Name, u.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// ListUsers lists login roles that are not reserved.
func (m *Manager) ListUsers(ctx context.Context, a guestapi.ListArgs) (guestapi.UserPage, error) {
	rows, err := m.query(ctx, "postgres", "SELECT rolname FROM pg_roles WHERE rolcanlogin AND rolname !~ '^pg_'")
	if err != nil {
		return guestapi.UserPage{}, err
	}
	var all []guestapi.User
	for _, r := range rows {
		if !m.reserved(r[0]) {
			all = append(all, guestapi.User{Name: r[0], Host: anyHost})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID() < all[j].ID() })
	page := datastore.Paginate(all, guestapi.User.ID, a)
	for i := range page.Items {
		dbs, err := m.access(ctx, page.Items[i].Name)
		if err != nil {
			return guestapi.UserPage{}, err
		}
		page.Items[i].Databases = dbs
	}
	return page, nil
}

// GetUser returns the user, nil when absent or reserved.
func (m *Manager) GetUser(ctx context.Context, name, host string) (*guestapi.User, error) {
	if err := m.checkUser(name, host); err != nil {
		if m.reserved(name) {
			return nil, nil
		}
		return nil, err
	}
	ok, err := m.roleExists(ctx, name)
	if err != nil || !ok {
		return nil, err
	}
	dbs, err := m.access(ctx, name)
	if err != nil {
		return nil, err
	}
	return &guestapi.User{Name: name, Host: anyHost, Databases: dbs}, nil
}

// DeleteUser hands the role's objects to os_admin in every database, then drops it.
func (m *Manager) DeleteUser(ctx context.Context, name, host string) error {
	if err := m.checkUser(name, host); err != nil {
		return err
	}
	ok, err := m.roleExists(ctx, name)
	if err != nil || !ok {
		return err
	}
	dbs, err := m.query(ctx, "postgres", "SELECT datname FROM pg_database WHERE datallowconn")
	if err != nil {
		return err
	}
	for _, d := range dbs {
		if _, err := m.query(ctx, d[0], "REASSIGN OWNED BY "+ident(name)+" TO "+ident(adminUser)+";\nDROP OWNED BY "+ident(name)); err != nil {
			return err
		}
	}
	return m.exec(ctx, "DROP ROLE IF EXISTS "+ident(name))
}

// UpdateAttributes sets the password and renames the role (SCRAM secrets survive a rename).
func (m *Manager) UpdateAttributes(ctx context.Context, name, host string, attrs guestapi.UserAttrs) error {
	if err := m.checkUser(name, host); err != nil {
		return err
	}
	newName := name
	if attrs.Name != nil {
		newName = *attrs.Name
	}
	newHost := host
	if attrs.Host != nil {
		newHost = *attrs.Host
	}
	if err := m.checkUser(newName, newHost); err != nil {
		return err
	}
	if attrs.Password != nil {
		if err := m.checkPassword(*attrs.Password); err != nil {
			return err
		}
	}
	if err := m.mustExist(ctx, name); err != nil {
		return err
	}
	if attrs.Password != nil {
		if err := m.execSecret(ctx, "ALTER ROLE "+ident(name)+" WITH PASSWORD "+lit(*attrs.Password)); err != nil {
			return err
		}
	}
	if newName != name {
		return m.exec(ctx, "ALTER ROLE "+ident(name)+" RENAME TO "+ident(newName))
	}
	return nil
}

// ChangePasswords sets each user's password; every user must exist.
func (m *Manager) ChangePasswords(ctx context.Context, users []guestapi.PasswordChange) error {
	for _, u := range users {
		if err := m.checkUser(u.Name, u.Host); err != nil {
			return err
		}
		if err := m.checkPassword(u.Password); err != nil {
			return err
		}
	}
	for _, u := range users {
		if err := m.mustExist(ctx, u.Name); err != nil {
			return err
		}
		if err := m.execSecret(ctx, "ALTER ROLE "+ident(u.Name)+" WITH PASSWORD "+lit(u.Password)); err != nil {
			return err
		}
	}
	return nil
}

// access lists the databases on which the role holds a privilege of its own (PUBLIC's do not count).
func (m *Manager) access(ctx context.Context, name string) ([]guestapi.Schema, error) {
	rows, err := m.query(ctx, "postgres", "SELECT DISTINCT d.datname FROM pg_database d, aclexplode(d.datacl) a "+
		"JOIN pg_roles r ON r.oid = a.grantee WHERE r.rolname = "+lit(name)+" ORDER BY 1")
	if err != nil {
		return nil, err
	}
	out := []guestapi.Schema{}
	for _, r := range rows {
		if !datastore.Ignored(m.opts.IgnoreDBs, r[0]) {
			out = append(out, guestapi.Schema{Name: r[0]})
		}
	}
	return out, nil
}

// ListAccess lists the user's databases.
func (m *Manager) ListAccess(ctx context.Context, name, host string) ([]guestapi.Schema, error) {
	if err := m.checkUser(name, host); err != nil {
		return nil, err
	}
	if err := m.mustExist(ctx, name); err != nil {
		return nil, err
	}
	return m.access(ctx, name)
}

// GrantAccess grants all database privileges.
func (m *Manager) GrantAccess(ctx context.Context, name, host string, dbs []string) error {
	if err := m.checkUser(name, host); err != nil {
		return err
	}
	for _, d := range dbs {
		if err := m.checkDB(guestapi.Schema{Name: d}); err != nil {
			return err
		}
	}
	if err := m.mustExist(ctx, name); err != nil {
		return err
	}
	for _, d := range dbs {
		ok, err := m.dbExists(ctx, d)
		if err != nil {
			return err
		}
		if !ok {
			return datastore.Errorf(datastore.KindDatabaseNotFound, "database %q does not exist", d)
		}
		if err := m.grantDB(ctx, d, name); err != nil {
			return err
		}
	}
	return nil
}

// grantDB gives a user a database (Trove's GRANT ALL PRIVILEGES ON DATABASE) and, since PostgreSQL 15 no
// longer lets everyone create in it, its public schema: a user given a database can create tables in it.
func (m *Manager) grantDB(ctx context.Context, db, user string) error {
	if err := m.exec(ctx, "GRANT ALL PRIVILEGES ON DATABASE "+ident(db)+" TO "+ident(user)); err != nil {
		return err
	}
	return m.onPublicSchema(ctx, db, "GRANT ALL ON SCHEMA public TO "+ident(user))
}

// revokeDB takes back what grantDB gave.
func (m *Manager) revokeDB(ctx context.Context, db, user string) error {
	if err := m.onPublicSchema(ctx, db, "REVOKE ALL ON SCHEMA public FROM "+ident(user)); err != nil {
		return err
	}
	return m.exec(ctx, "REVOKE ALL PRIVILEGES ON DATABASE "+ident(db)+" FROM "+ident(user))
}

// onPublicSchema runs stmt in db when the database has a public schema.
func (m *Manager) onPublicSchema(ctx context.Context, db, stmt string) error {
	rows, err := m.query(ctx, db, "SELECT 1 FROM pg_namespace WHERE nspname = 'public'")
	if err != nil || len(rows) == 0 {
		return err
	}
	_, err = m.query(ctx, db, stmt)
	return err
}

// RevokeAccess revokes the user's database privileges.
func (m *Manager) RevokeAccess(ctx context.Context, name, host, d string) error {
	if err := m.checkUser(name, host); err != nil {
		return err
	}
	if err := m.checkDB(guestapi.Schema{Name: d}); err != nil {
		return err
	}
	if err := m.mustExist(ctx, name); err != nil {
		return err
	}
	dbs, err := m.access(ctx, name)
	if err != nil {
		return err
	}
	for _, s := range dbs {
		if s.Name == d {
			return m.revokeDB(ctx, d, name)
		}
	}
	return datastore.Errorf(datastore.KindDatabaseNotFound, "user %s has no access to database %q", name, d)
}

// EnableRoot creates the root role or resets it: a superuser login with the password (generated when empty),
// as Trove's PgSqlAdmin.enable_root (create_user if missing, then alter_user with ADMIN_OPTIONS).
func (m *Manager) EnableRoot(ctx context.Context, pw string) (guestapi.User, error) {
	if pw == "" {
		pw = datastore.GeneratePassword(36)
	} else if err := m.checkPassword(pw); err != nil {
		return guestapi.User{}, err
	}
	if err := m.setLogin(ctx, rootUser, pw, "SUPERUSER CREATEDB CREATEROLE INHERIT REPLICATION BYPASSRLS "); err != nil {
		return guestapi.User{}, err
	}
	return guestapi.User{Name: rootUser, Host: anyHost, Password: &pw, Databases: []guestapi.Schema{}, IsRoot: true}, nil
}

// DisableRoot takes the root role's login and password, so nobody can log in as root until it is enabled again
// (Trove instead resets the password to a random one it does not return). The role and what it owns stay. A
// legacy postgres root login (enabled by an older agent) is locked the same way.
func (m *Manager) DisableRoot(ctx context.Context) error {
	for _, name := range []string{rootUser, legacyRoot} {
		ok, err := m.roleExists(ctx, name)
		if err != nil {
			return err
		}
		if ok {
			if err := m.exec(ctx, "ALTER ROLE "+ident(name)+" WITH NOLOGIN PASSWORD NULL"); err != nil {
				return err
			}
		}
	}
	return nil
}

// IsRootEnabled reports whether root (or a legacy postgres root) is a superuser that can log in with a password.
func (m *Manager) IsRootEnabled(ctx context.Context) (bool, error) {
	rows, err := m.query(ctx, "postgres", "SELECT 1 FROM pg_authid WHERE rolname IN ("+lit(rootUser)+", "+lit(legacyRoot)+
		") AND rolsuper AND rolcanlogin AND rolpassword IS NOT NULL")
	return len(rows) > 0, err
}

// noStatementLog keeps the session's statements out of the server log: the general guest log
// (log_statement = all) and slow or failing statements would otherwise write a password literal into a file
// the tenant can publish. os_admin is a superuser, so it may set these for its own session.
const noStatementLog = "SET log_statement = 'none'; SET log_min_duration_statement = -1; SET log_min_error_statement = PANIC;\n"

// execSecret is exec for a statement carrying a secret: psql sends each statement of its input on its own, so
// the SETs are in force before the secret's statement reaches the server.
func (m *Manager) execSecret(ctx context.Context, sql string) error {
	return m.exec(ctx, noStatementLog+sql)
}
