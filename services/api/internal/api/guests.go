package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/redact"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/services/api/internal/fault"
	"github.com/trove-go/trove/services/api/internal/schema"
)

// Guest is the part of an instance's guest agent the API calls; production wires *guestapi.Client.
type Guest interface {
	ListDatabases(ctx context.Context, rc rpc.Context, a guestapi.ListArgs) (guestapi.DatabasePage, error)
	CreateDatabase(ctx context.Context, rc rpc.Context, a guestapi.CreateDatabaseArgs) error
	DeleteDatabase(ctx context.Context, rc rpc.Context, a guestapi.DeleteDatabaseArgs) error
	ListUsers(ctx context.Context, rc rpc.Context, a guestapi.ListArgs) (guestapi.UserPage, error)
	CreateUser(ctx context.Context, rc rpc.Context, a guestapi.CreateUserArgs) error
	GetUser(ctx context.Context, rc rpc.Context, a guestapi.GetUserArgs) (*guestapi.User, error)
	DeleteUser(ctx context.Context, rc rpc.Context, a guestapi.DeleteUserArgs) error
	EnableRootWithPassword(ctx context.Context, rc rpc.Context, a guestapi.EnableRootWithPasswordArgs) (guestapi.User, error)
	DisableRoot(ctx context.Context, rc rpc.Context) error
	GetFilesystemStats(ctx context.Context, rc rpc.Context) (guestapi.FilesystemStats, error)
	UpdateAttributes(ctx context.Context, rc rpc.Context, a guestapi.UpdateAttributesArgs) error
	ChangePasswords(ctx context.Context, rc rpc.Context, a guestapi.ChangePasswordsArgs) error
	ListAccess(ctx context.Context, rc rpc.Context, a guestapi.ListAccessArgs) ([]guestapi.Schema, error)
	GrantAccess(ctx context.Context, rc rpc.Context, a guestapi.GrantAccessArgs) error
	RevokeAccess(ctx context.Context, rc rpc.Context, a guestapi.RevokeAccessArgs) error
	GuestLogList(ctx context.Context, rc rpc.Context) ([]guestapi.GuestLog, error)
	GuestLogAction(ctx context.Context, rc rpc.Context, a guestapi.GuestLogActionArgs) (guestapi.GuestLog, error)
	GetRecoveryWindow(ctx context.Context, rc rpc.Context) (guestapi.RecoveryWindow, error)
}

// Guests gives the client of one instance's guest (its RPC codec depends on the instance's keys).
type Guests interface {
	Guest(ctx context.Context, instanceID string) (Guest, error)
}

// guestManagers are the datastore managers with the mysql extension (databases, users, root).
var guestManagers = []string{"mysql", "mariadb", "postgresql"}

// guestInstance loads an instance for a databases/users/root route: policy, ownership, then Trove's checks
// (manager supports the extension, guest RUNNING or HEALTHY → else 422), and returns its guest client. An empty
// rule checks ownership only (routes Trove applies no policy to).
func (a *API) guestInstance(r *http.Request, rule string) (*requestContext, *catalog.Instance, guestapi.Rules, Guest, error) {
	rc := reqCtx(r)
	ctx := r.Context()
	row, err := a.loadInstance(ctx, rc, rule, mux.Vars(r)["id"])
	if err != nil {
		return rc, nil, guestapi.Rules{}, nil, err
	}
	v, err := a.cat.GetVersion(ctx, row.DatastoreVersionID)
	if err != nil {
		return rc, nil, guestapi.Rules{}, nil, fault.Unprocessable("Instance %s has no datastore version.", row.ID)
	}
	if !slices.Contains(guestManagers, v.Manager) {
		return rc, nil, guestapi.Rules{}, nil, fault.Unprocessable("Operation not supported for datastore %s.", v.Manager)
	}
	rules, err := guestapi.RulesFor(v.Manager)
	if err != nil {
		return rc, nil, guestapi.Rules{}, nil, err
	}
	svc, err := a.cat.GetServiceStatus(ctx, row.ID)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return rc, nil, rules, nil, err
	}
	if s := svc.Status(); err != nil || !(s.Same(status.Running) || s.Same(status.Healthy)) {
		return rc, nil, rules, nil, fault.Unprocessable("Instance %s is not ready, status: %s.", row.ID, svc.Status().API)
	}
	if a.guests == nil {
		return rc, nil, rules, nil, fault.NotImplemented("Guest operations are not available.")
	}
	g, err := a.guests.Guest(ctx, row.ID)
	return rc, row, rules, g, err
}

// guestFault maps guest RPC failures to Trove's GuestError / GuestTimeout (both 400).
func guestFault(err error) error {
	var re *rpc.RemoteError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rpc.ErrTimeout):
		return fault.BadRequest("Timeout trying to connect to the Guest Agent.")
	case errors.As(err, &re):
		return fault.BadRequest("An error occurred communicating with the guest: %s.", redact.Trunc(re.Message, 4*redact.Echo))
	}
	return err
}

func (a *API) listDatabases(w http.ResponseWriter, r *http.Request) error {
	rc, _, rules, g, err := a.guestInstance(r, "instance:extension:database:index")
	if err != nil {
		return err
	}
	page, err := g.ListDatabases(r.Context(), rc.rpcContext(), guestPageArgs(r))
	if err != nil {
		return guestFault(err)
	}
	ignore := a.cfg.manager(rules.Manager).IgnoreDBs
	out := make([]map[string]string, 0, len(page.Items))
	for _, d := range page.Items {
		if !slices.Contains(ignore, d.Name) {
			out = append(out, map[string]string{"name": d.Name})
		}
	}
	body := map[string]any{"databases": out}
	if page.NextMarker != nil {
		body["links"] = nextLink(r, *page.NextMarker, 0)
	}
	return writeJSON(w, http.StatusOK, body)
}

// guestPageArgs is the guest list call for ?limit=&marker= (limit capped at 20 as in Trove).
func guestPageArgs(r *http.Request) guestapi.ListArgs {
	limit := 20
	q := r.URL.Query()
	if n, err := parsePositive(q.Get("limit")); err == nil && n < limit {
		limit = n
	}
	args := guestapi.ListArgs{Limit: &limit}
	if m := q.Get("marker"); m != "" {
		args.Marker = &m
	}
	return args
}

func (a *API) createDatabases(w http.ResponseWriter, r *http.Request) error {
	rc, row, rules, g, err := a.guestInstance(r, "instance:extension:database:create")
	if err != nil {
		return err
	}
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	dbs, err := schema.ParseCreateDatabases(doc)
	if err != nil {
		return err
	}
	mgr := a.cfg.manager(rules.Manager)
	schemas := make([]guestapi.Schema, 0, len(dbs))
	seen := map[string]bool{}
	for _, d := range dbs {
		s := toSchema(d)
		if p := schemaProblem(rules, s); p != "" {
			return fault.BadRequest("Database create error: %s", p)
		}
		if reservedDatabase(rules, mgr, d.Name) {
			return fault.BadRequest("Database create error: '%s' is not a valid database name.", shown(d.Name))
		}
		if seen[d.Name] {
			return fault.BadRequest("Database create error: '%s' is given twice.", shown(d.Name))
		}
		seen[d.Name] = true
		schemas = append(schemas, s)
	}
	existing, err := a.allDatabases(r.Context(), rc, g)
	if err != nil {
		return err
	}
	for _, s := range schemas {
		if existing[s.Name] {
			return fault.BadRequest("A database with the name %s already exists.", shown(s.Name))
		}
	}
	names := make([]string, len(schemas))
	for i, s := range schemas {
		names[i] = s.Name
	}
	grc := a.guestNotification(r, rc, "DBaaSDatabaseCreate", map[string]any{"instance_id": row.ID, "dbname": strings.Join(names, ".")})
	if err := g.CreateDatabase(r.Context(), grc, guestapi.CreateDatabaseArgs{Databases: schemas}); err != nil {
		return guestFault(err)
	}
	return writeEmpty(w, http.StatusAccepted)
}

// allDatabases pages through the guest's databases.
func (a *API) allDatabases(ctx context.Context, rc *requestContext, g Guest) (map[string]bool, error) {
	out := map[string]bool{}
	var marker *string
	for range 1000 {
		page, err := g.ListDatabases(ctx, rc.rpcContext(), guestapi.ListArgs{Marker: marker})
		if err != nil {
			return nil, guestFault(err)
		}
		for _, d := range page.Items {
			out[d.Name] = true
		}
		if page.NextMarker == nil || len(page.Items) == 0 {
			break
		}
		marker = page.NextMarker
	}
	return out, nil
}

func toSchema(d schema.Database) guestapi.Schema {
	s := guestapi.Schema{Name: d.Name}
	if d.CharacterSet != "" {
		cs := d.CharacterSet
		s.CharacterSet = &cs
	}
	if d.Collate != "" {
		c := d.Collate
		s.Collate = &c
	}
	return s
}

func (a *API) deleteDatabase(w http.ResponseWriter, r *http.Request) error {
	rc, row, rules, g, err := a.guestInstance(r, "instance:extension:database:delete")
	if err != nil {
		return err
	}
	name := mux.Vars(r)["name"]
	if err := rules.ValidateDatabaseName(name); err != nil || reservedDatabase(rules, a.cfg.manager(rules.Manager), name) {
		return fault.BadRequest("Database delete error: '%s' is not a valid database name.", shown(name))
	}
	existing, err := a.allDatabases(r.Context(), rc, g)
	if err != nil {
		return err
	}
	if !existing[name] {
		return fault.New(http.StatusNotFound, "Database %s cannot be found on the instance.", shown(name))
	}
	grc := a.guestNotification(r, rc, "DBaaSDatabaseDelete", map[string]any{"instance_id": row.ID, "dbname": name})
	if err := g.DeleteDatabase(r.Context(), grc, guestapi.DeleteDatabaseArgs{Database: guestapi.Schema{Name: name}}); err != nil {
		return guestFault(err)
	}
	return writeEmpty(w, http.StatusAccepted)
}

type userView struct {
	Name      string              `json:"name"`
	Host      string              `json:"host"`
	Databases []map[string]string `json:"databases"`
}

func renderUser(u *guestapi.User) userView {
	v := userView{Name: u.Name, Host: u.HostOrDefault(), Databases: make([]map[string]string, 0, len(u.Databases))}
	for _, d := range u.Databases {
		v.Databases = append(v.Databases, map[string]string{"name": d.Name})
	}
	return v
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	rc, _, rules, g, err := a.guestInstance(r, "instance:extension:user:index")
	if err != nil {
		return err
	}
	page, err := g.ListUsers(r.Context(), rc.rpcContext(), guestPageArgs(r))
	if err != nil {
		return guestFault(err)
	}
	ignore := a.cfg.manager(rules.Manager).IgnoreUsers
	out := make([]userView, 0, len(page.Items))
	for i := range page.Items {
		if !slices.Contains(ignore, page.Items[i].Name) {
			out = append(out, renderUser(&page.Items[i]))
		}
	}
	body := map[string]any{"users": out}
	if page.NextMarker != nil {
		body["links"] = nextLink(r, *page.NextMarker, 0)
	}
	return writeJSON(w, http.StatusOK, body)
}

func (a *API) createUsers(w http.ResponseWriter, r *http.Request) error {
	rc, row, rules, g, err := a.guestInstance(r, "instance:extension:user:create")
	if err != nil {
		return err
	}
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	us, err := schema.ParseCreateUsers(doc)
	if err != nil {
		return err
	}
	mgr := a.cfg.manager(rules.Manager)
	users := make([]guestapi.User, 0, len(us))
	seen := map[string]bool{}
	for _, u := range us {
		pw := u.Password
		gu := guestapi.User{Name: u.Name, Host: u.Host, Password: &pw, Databases: []guestapi.Schema{}}
		if gu.Host == "" {
			gu.Host = "%"
		}
		if p := userProblem(rules, gu.Name, gu.Host, &pw); p != "" {
			return fault.BadRequest("User create error: %s", p)
		}
		for _, d := range u.Databases {
			s := guestapi.Schema{Name: d}
			if p := schemaProblem(rules, s); p != "" {
				return fault.BadRequest("User create error: %s", p)
			}
			gu.Databases = append(gu.Databases, s)
		}
		if rules.ValidateUser(gu) != nil || reservedUser(rules, mgr, u.Name) {
			return fault.BadRequest("User create error: %s is not a valid user.", shown(gu.ID()))
		}
		if seen[gu.ID()] {
			return fault.BadRequest("User %s is given twice.", shown(gu.ID()))
		}
		seen[gu.ID()] = true
		host := gu.Host
		existing, err := g.GetUser(r.Context(), rc.rpcContext(), guestapi.GetUserArgs{Username: gu.Name, Hostname: &host})
		if err != nil {
			return guestFault(err)
		}
		if existing != nil {
			return fault.BadRequest("A user with the name %s already exists.", shown(gu.ID()))
		}
		users = append(users, gu)
	}
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = u.Name
	}
	grc := a.guestNotification(r, rc, "DBaaSUserCreate", map[string]any{"instance_id": row.ID, "username": strings.Join(names, ".")})
	if err := g.CreateUser(r.Context(), grc, guestapi.CreateUserArgs{Users: users}); err != nil {
		return guestFault(err)
	}
	return writeEmpty(w, http.StatusAccepted)
}

// parseUserID splits a user id from the URL as Trove does: unquote once more, "name" → host %, a trailing
// "@" belongs to the name, otherwise split at the last "@".
func parseUserID(raw string) (name, host string) {
	if u, err := url.PathUnescape(raw); err == nil {
		raw = u
	}
	i := strings.LastIndexByte(raw, '@')
	if i < 0 || i == len(raw)-1 {
		return raw, "%"
	}
	return raw[:i], raw[i+1:]
}

// userTarget is the user a /users/{user} route addresses, with its instance's guest and name rules.
type userTarget struct {
	rc         *requestContext
	g          Guest
	u          *guestapi.User
	rules      guestapi.Rules
	instanceID string
}

func (a *API) findUser(r *http.Request, rule string) (userTarget, error) {
	rc, row, rules, g, err := a.guestInstance(r, rule)
	t := userTarget{rc: rc, g: g, rules: rules}
	if err != nil {
		return t, err
	}
	t.instanceID = row.ID
	name, host := parseUserID(mux.Vars(r)["user"])
	if err := rules.ValidateUserName(name, host); err != nil || reservedUser(rules, a.cfg.manager(rules.Manager), name) {
		return t, fault.BadRequest("User %s@%s is not a valid user.", shown(name), shown(host))
	}
	t.u, err = g.GetUser(r.Context(), rc.rpcContext(), guestapi.GetUserArgs{Username: name, Hostname: &host})
	if err != nil {
		return t, guestFault(err)
	}
	if t.u == nil {
		return t, fault.New(http.StatusNotFound, "User %s cannot be found on the instance.", shown(name+"@"+host))
	}
	return t, nil
}

func (a *API) showUser(w http.ResponseWriter, r *http.Request) error {
	t, err := a.findUser(r, "instance:extension:user:show")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]userView{"user": renderUser(t.u)})
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	t, err := a.findUser(r, "instance:extension:user:delete")
	if err != nil {
		return err
	}
	rc, g, u := t.rc, t.g, t.u
	grc := a.guestNotification(r, rc, "DBaaSUserDelete", map[string]any{"instance_id": t.instanceID, "username": u.Name})
	if err := g.DeleteUser(r.Context(), grc, guestapi.DeleteUserArgs{User: guestapi.User{Name: u.Name, Host: u.HostOrDefault()}}); err != nil {
		return guestFault(err)
	}
	return writeEmpty(w, http.StatusAccepted)
}

func (a *API) rootShow(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	row, err := a.loadInstance(r.Context(), rc, "instance:extension:root:index", mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	enabled, err := a.cat.RootEnabled(r.Context(), row.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]bool{"rootEnabled": enabled})
}

func (a *API) rootEnable(w http.ResponseWriter, r *http.Request) error {
	rc, row, _, g, err := a.guestInstance(r, "instance:extension:root:create")
	if err != nil {
		return err
	}
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	pw, err := schema.ParseRootEnable(doc)
	if err != nil {
		return err
	}
	var args guestapi.EnableRootWithPasswordArgs
	if pw != "" {
		args.RootPassword = &pw
	}
	u, err := g.EnableRootWithPassword(r.Context(), rc.rpcContext(), args)
	if err != nil {
		return guestFault(err)
	}
	if err := a.cat.RecordRoot(r.Context(), row.ID, rc.Token.UserID); err != nil {
		return err
	}
	password := ""
	if u.Password != nil {
		password = *u.Password
	}
	rc.logger().WithField("instance_id", row.ID).Info("root enabled")
	return writeJSON(w, http.StatusOK, map[string]map[string]string{"user": {"name": u.Name, "password": password}})
}

func (a *API) rootDisable(w http.ResponseWriter, r *http.Request) error {
	rc, row, _, g, err := a.guestInstance(r, "instance:extension:root:delete")
	if err != nil {
		return err
	}
	enabled, err := a.cat.RootEnabled(r.Context(), row.ID)
	if err != nil {
		return err
	}
	if !enabled {
		return fault.New(http.StatusNotFound, "Root user has never been enabled for instance %s.", row.ID)
	}
	if err := g.DisableRoot(r.Context(), rc.rpcContext()); err != nil {
		return guestFault(err)
	}
	if err := a.cat.DisableRoot(r.Context(), row.ID); err != nil {
		return err
	}
	rc.logger().WithField("instance_id", row.ID).Info("root disabled")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// updateUser is PUT /users/{user}: rename, re-host and/or set the password (the new name@host must be free).
func (a *API) updateUser(w http.ResponseWriter, r *http.Request) error {
	t, err := a.findUser(r, "instance:extension:user:update")
	if err != nil {
		return err
	}
	rc, g, u := t.rc, t.g, t.u
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	upd, err := schema.ParseUserUpdate(doc)
	if err != nil {
		return err
	}
	rules := t.rules
	newName, newHost := u.Name, u.HostOrDefault()
	if upd.Name != nil {
		newName = *upd.Name
	}
	if upd.Host != nil {
		newHost = *upd.Host
	}
	check := guestapi.User{Name: newName, Host: newHost}
	if upd.Password != nil {
		check.Password = upd.Password
	}
	if p := userProblem(rules, newName, newHost, upd.Password); p != "" {
		return fault.BadRequest("User update error: %s", p)
	}
	if rules.ValidateUser(check) != nil || reservedUser(rules, a.cfg.manager(rules.Manager), newName) {
		return fault.BadRequest("User %s@%s is not a valid user.", shown(newName), shown(newHost))
	}
	if newName != u.Name || newHost != u.HostOrDefault() {
		existing, err := g.GetUser(r.Context(), rc.rpcContext(), guestapi.GetUserArgs{Username: newName, Hostname: &newHost})
		if err != nil {
			return guestFault(err)
		}
		if existing != nil {
			return fault.BadRequest("A user with the name %s already exists.", shown(existing.ID()))
		}
	}
	host := u.HostOrDefault()
	args := guestapi.UpdateAttributesArgs{UserRef: guestapi.UserRef{Username: u.Name, Hostname: &host},
		UserAttrs: guestapi.UserAttrs{Name: upd.Name, Password: upd.Password, Host: upd.Host}}
	grc := a.guestNotification(r, rc, "DBaaSUserUpdateAttributes", map[string]any{"instance_id": t.instanceID, "username": u.Name})
	if err := g.UpdateAttributes(r.Context(), grc, args); err != nil {
		return guestFault(err)
	}
	return writeEmpty(w, http.StatusAccepted)
}

// changePasswords is PUT /users: every user must exist.
func (a *API) changePasswords(w http.ResponseWriter, r *http.Request) error {
	rc, row, rules, g, err := a.guestInstance(r, "instance:extension:user:update_all")
	if err != nil {
		return err
	}
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	us, err := schema.ParseChangePasswords(doc)
	if err != nil {
		return err
	}
	changes := make([]guestapi.PasswordChange, 0, len(us))
	for _, u := range us {
		host := u.Host
		if host == "" {
			host = "%"
		}
		if err := rules.ValidatePassword(u.Password); err != nil {
			return fault.BadRequest("User %s@%s: the password is not valid.", shown(u.Name), shown(host))
		}
		existing, err := g.GetUser(r.Context(), rc.rpcContext(), guestapi.GetUserArgs{Username: u.Name, Hostname: &host})
		if err != nil {
			return guestFault(err)
		}
		if existing == nil {
			return fault.New(http.StatusNotFound, "User %s cannot be found on the instance.", shown(u.Name+"@"+host))
		}
		changes = append(changes, guestapi.PasswordChange{Name: u.Name, Host: host, Password: u.Password})
	}
	names := make([]string, len(changes))
	for i, c := range changes {
		names[i] = c.Name
	}
	grc := a.guestNotification(r, rc, "DBaaSUserChangePassword", map[string]any{"instance_id": row.ID, "username": strings.Join(names, ".")})
	if err := g.ChangePasswords(r.Context(), grc, guestapi.ChangePasswordsArgs{Users: changes}); err != nil {
		return guestFault(err)
	}
	return writeEmpty(w, http.StatusAccepted)
}

func userRef(u *guestapi.User) guestapi.UserRef {
	host := u.HostOrDefault()
	return guestapi.UserRef{Username: u.Name, Hostname: &host}
}

// listAccess is GET /users/{user}/databases.
func (a *API) listAccess(w http.ResponseWriter, r *http.Request) error {
	t, err := a.findUser(r, "instance:extension:user_access:index")
	if err != nil {
		return err
	}
	rc, g, u := t.rc, t.g, t.u
	dbs, err := g.ListAccess(r.Context(), rc.rpcContext(), userRef(u))
	if err != nil {
		return guestFault(err)
	}
	out := make([]map[string]string, 0, len(dbs))
	for _, d := range dbs {
		out = append(out, map[string]string{"name": d.Name})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"databases": out})
}

// grantAccess is PUT /users/{user}/databases.
func (a *API) grantAccess(w http.ResponseWriter, r *http.Request) error {
	t, err := a.findUser(r, "instance:extension:user_access:update")
	if err != nil {
		return err
	}
	rc, g, u := t.rc, t.g, t.u
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	dbs, err := schema.ParseGrantAccess(doc)
	if err != nil {
		return err
	}
	existing, err := a.allDatabases(r.Context(), rc, g)
	if err != nil {
		return err
	}
	for _, d := range dbs {
		if !existing[d] {
			return fault.New(http.StatusNotFound, "Database %s cannot be found on the instance.", shown(d))
		}
	}
	// dbaas.user_grant (Trove's traits: instance_id, username, database — the requested names); the guest call is
	// synchronous, so trove-api ends it too.
	err = a.notified(r.Context(), rc, "DBaaSUserGrant", map[string]any{"instance_id": t.instanceID, "username": u.Name, "database": dbs},
		func() (map[string]any, error) {
			return nil, g.GrantAccess(r.Context(), rc.rpcContext(), guestapi.GrantAccessArgs{UserRef: userRef(u), Databases: dbs})
		})
	if err != nil {
		return guestFault(err)
	}
	return writeEmpty(w, http.StatusAccepted)
}

// revokeAccess is DELETE /users/{user}/databases/{db}: the database must be granted (404 otherwise).
func (a *API) revokeAccess(w http.ResponseWriter, r *http.Request) error {
	t, err := a.findUser(r, "instance:extension:user_access:delete")
	if err != nil {
		return err
	}
	rc, g, u := t.rc, t.g, t.u
	db := mux.Vars(r)["db"]
	granted, err := g.ListAccess(r.Context(), rc.rpcContext(), userRef(u))
	if err != nil {
		return guestFault(err)
	}
	found := false
	names := make([]string, 0, len(granted))
	for _, d := range granted {
		found = found || d.Name == db
		names = append(names, d.Name)
	}
	if !found {
		return fault.New(http.StatusNotFound, "Database %s cannot be found on the instance.", shown(db))
	}
	// dbaas.user_revoke: Trove's database trait is the list the user had access to before the revoke.
	err = a.notified(r.Context(), rc, "DBaaSUserRevoke", map[string]any{"instance_id": t.instanceID, "username": u.Name, "database": names},
		func() (map[string]any, error) {
			return nil, g.RevokeAccess(r.Context(), rc.rpcContext(), guestapi.RevokeAccessArgs{UserRef: userRef(u), Database: db})
		})
	if err != nil {
		return guestFault(err)
	}
	return writeEmpty(w, http.StatusAccepted)
}

// guestNotification is the RPC context of a guest operation carrying Trove's dbaas.<event> notification: the
// API emits .start, the guest ends it (notify_end / notify_exc_info through the conductor), as Trove's.
func (a *API) guestNotification(r *http.Request, rc *requestContext, class string, traits map[string]any) rpc.Context {
	return startNotification(r.Context(), a.notify, rc.rpcContext(), class, traits)
}
