package mysql

import (
	"context"
	"sort"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

func host(h string) string {
	if h == "" {
		return "%"
	}
	return h
}

func (m *Manager) checkUser(name, h string) error {
	if err := m.rules.ValidateUserName(name, h); err != nil {
		return datastore.Errorf(datastore.KindBadRequest, "%v", err)
	}
	if datastore.Ignored(m.opts.IgnoreUsers, name) {
		return datastore.Errorf(datastore.KindBadRequest, "user %q is reserved", name)
	}
	return nil
}

func (m *Manager) checkPassword(pw string) error {
	if err := m.rules.ValidatePassword(pw); err != nil {
		return datastore.Errorf(datastore.KindBadRequest, "%v", err)
	}
	return nil
}

// CreateUsers creates each user (or resets its password when it exists, so a resumed prepare converges) and
// grants it its databases.
func (m *Manager) CreateUsers(ctx context.Context, users []guestapi.User) error {
	for _, u := range users {
		if err := m.checkUser(u.Name, host(u.Host)); err != nil {
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
		h := host(u.Host)
		if err := m.execSecret(ctx, "CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?", u.Name, h, *u.Password); err != nil {
			return err
		}
		if err := m.execSecret(ctx, "ALTER USER ?@? IDENTIFIED BY ?", u.Name, h, *u.Password); err != nil {
			return err
		}
		for _, d := range u.Databases {
			if err := m.exec(ctx, "GRANT ALL PRIVILEGES ON "+ident(d.Name)+".* TO ?@?", u.Name, h); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Manager) exists(ctx context.Context, name, h string) (bool, error) {
	db, err := m.admin()
	if err != nil {
		return false, err
	}
	var n int
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?", name, h).Scan(&n)
	return n > 0, err
}

func (m *Manager) mustExist(ctx context.Context, name, h string) error {
	ok, err := m.exists(ctx, name, h)
	if err != nil {
		return err
	}
	if !ok {
		return datastore.Errorf(datastore.KindUserNotFound, "user %s@%s does not exist", name, h)
	}
	return nil
}

// ListUsers lists the users that are not reserved and not local (Trove hides Host = 'localhost').
func (m *Manager) ListUsers(ctx context.Context, a guestapi.ListArgs) (guestapi.UserPage, error) {
	db, err := m.admin()
	if err != nil {
		return guestapi.UserPage{}, err
	}
	rows, err := db.QueryContext(ctx, "SELECT User, Host FROM mysql.user WHERE Host NOT IN ('localhost', '')")
	if err != nil {
		return guestapi.UserPage{}, err
	}
	var all []guestapi.User
	for rows.Next() {
		var u guestapi.User
		if err := rows.Scan(&u.Name, &u.Host); err != nil {
			rows.Close()
			return guestapi.UserPage{}, err
		}
		if !datastore.Ignored(m.opts.IgnoreUsers, u.Name) {
			all = append(all, u)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return guestapi.UserPage{}, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID() < all[j].ID() })
	page := datastore.Paginate(all, guestapi.User.ID, a)
	for i := range page.Items {
		dbs, err := m.access(ctx, page.Items[i].Name, page.Items[i].Host)
		if err != nil {
			return guestapi.UserPage{}, err
		}
		page.Items[i].Databases = dbs
	}
	return page, nil
}

// GetUser returns the user with its databases, nil when absent or reserved.
func (m *Manager) GetUser(ctx context.Context, name, h string) (*guestapi.User, error) {
	h = host(h)
	if err := m.checkUser(name, h); err != nil {
		if datastore.Ignored(m.opts.IgnoreUsers, name) {
			return nil, nil
		}
		return nil, err
	}
	ok, err := m.exists(ctx, name, h)
	if err != nil || !ok {
		return nil, err
	}
	dbs, err := m.access(ctx, name, h)
	if err != nil {
		return nil, err
	}
	return &guestapi.User{Name: name, Host: h, Databases: dbs}, nil
}

// DeleteUser drops the user (absent: no error).
func (m *Manager) DeleteUser(ctx context.Context, name, h string) error {
	h = host(h)
	if err := m.checkUser(name, h); err != nil {
		return err
	}
	return m.exec(ctx, "DROP USER IF EXISTS ?@?", name, h)
}

// UpdateAttributes changes the password, then renames/re-hosts the user.
func (m *Manager) UpdateAttributes(ctx context.Context, name, h string, attrs guestapi.UserAttrs) error {
	h = host(h)
	if err := m.checkUser(name, h); err != nil {
		return err
	}
	newName, newHost := name, h
	if attrs.Name != nil {
		newName = *attrs.Name
	}
	if attrs.Host != nil {
		newHost = host(*attrs.Host)
	}
	if err := m.checkUser(newName, newHost); err != nil {
		return err
	}
	if attrs.Password != nil {
		if err := m.checkPassword(*attrs.Password); err != nil {
			return err
		}
	}
	if err := m.mustExist(ctx, name, h); err != nil {
		return err
	}
	if attrs.Password != nil {
		if err := m.execSecret(ctx, "ALTER USER ?@? IDENTIFIED BY ?", name, h, *attrs.Password); err != nil {
			return err
		}
	}
	if newName != name || newHost != h {
		return m.exec(ctx, "RENAME USER ?@? TO ?@?", name, h, newName, newHost)
	}
	return nil
}

// ChangePasswords sets each user's password; every user must exist.
func (m *Manager) ChangePasswords(ctx context.Context, users []guestapi.PasswordChange) error {
	for _, u := range users {
		if err := m.checkUser(u.Name, host(u.Host)); err != nil {
			return err
		}
		if err := m.checkPassword(u.Password); err != nil {
			return err
		}
	}
	for _, u := range users {
		if err := m.mustExist(ctx, u.Name, host(u.Host)); err != nil {
			return err
		}
		if err := m.execSecret(ctx, "ALTER USER ?@? IDENTIFIED BY ?", u.Name, host(u.Host), u.Password); err != nil {
			return err
		}
	}
	return nil
}

// access lists the databases on which the user holds privileges.
func (m *Manager) access(ctx context.Context, name, h string) ([]guestapi.Schema, error) {
	db, err := m.admin()
	if err != nil {
		return nil, err
	}
	// GRANTEE is rendered 'name'@'host'; validated names contain no quote.
	rows, err := db.QueryContext(ctx, "SELECT DISTINCT TABLE_SCHEMA FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? ORDER BY TABLE_SCHEMA",
		"'"+name+"'@'"+h+"'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []guestapi.Schema{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		if !datastore.Ignored(m.opts.IgnoreDBs, s) {
			out = append(out, guestapi.Schema{Name: s})
		}
	}
	return out, rows.Err()
}

// ListAccess lists the user's databases.
func (m *Manager) ListAccess(ctx context.Context, name, h string) ([]guestapi.Schema, error) {
	h = host(h)
	if err := m.checkUser(name, h); err != nil {
		return nil, err
	}
	if err := m.mustExist(ctx, name, h); err != nil {
		return nil, err
	}
	return m.access(ctx, name, h)
}

// GrantAccess grants all privileges on each database.
func (m *Manager) GrantAccess(ctx context.Context, name, h string, dbs []string) error {
	h = host(h)
	if err := m.checkUser(name, h); err != nil {
		return err
	}
	for _, d := range dbs {
		if err := m.checkDB(guestapi.Schema{Name: d}); err != nil {
			return err
		}
	}
	if err := m.mustExist(ctx, name, h); err != nil {
		return err
	}
	for _, d := range dbs {
		if err := m.exec(ctx, "GRANT ALL PRIVILEGES ON "+ident(d)+".* TO ?@?", name, h); err != nil {
			return err
		}
	}
	return nil
}

// RevokeAccess revokes all privileges on the database.
func (m *Manager) RevokeAccess(ctx context.Context, name, h, d string) error {
	h = host(h)
	if err := m.checkUser(name, h); err != nil {
		return err
	}
	if err := m.checkDB(guestapi.Schema{Name: d}); err != nil {
		return err
	}
	if err := m.mustExist(ctx, name, h); err != nil {
		return err
	}
	dbs, err := m.access(ctx, name, h)
	if err != nil {
		return err
	}
	for _, s := range dbs {
		if s.Name == d {
			return m.exec(ctx, "REVOKE ALL PRIVILEGES ON "+ident(d)+".* FROM ?@?", name, h)
		}
	}
	return datastore.Errorf(datastore.KindDatabaseNotFound, "user %s@%s has no access to database %q", name, h, d)
}

// EnableRoot creates or resets root@'%' with all privileges.
func (m *Manager) EnableRoot(ctx context.Context, pw string) (guestapi.User, error) {
	if pw == "" {
		pw = datastore.GeneratePassword(36)
	} else if err := m.checkPassword(pw); err != nil {
		return guestapi.User{}, err
	}
	for _, q := range []string{
		"CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY ?",
		"ALTER USER 'root'@'%' IDENTIFIED BY ?",
	} {
		if err := m.execSecret(ctx, q, pw); err != nil {
			return guestapi.User{}, err
		}
	}
	if err := m.exec(ctx, "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION"); err != nil {
		return guestapi.User{}, err
	}
	return guestapi.User{Name: "root", Host: "%", Password: &pw, Databases: []guestapi.Schema{}, IsRoot: true}, nil
}

// DisableRoot drops the remote root accounts.
func (m *Manager) DisableRoot(ctx context.Context) error {
	return m.exec(ctx, "DROP USER IF EXISTS 'root'@'%'")
}

// IsRootEnabled reports whether a non-local root account exists (Trove's check).
func (m *Manager) IsRootEnabled(ctx context.Context) (bool, error) {
	db, err := m.admin()
	if err != nil {
		return false, err
	}
	var n int
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = 'root' AND Host != 'localhost'").Scan(&n)
	return n > 0, err
}
