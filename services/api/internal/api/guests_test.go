package api

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
)

// memGuest is an in-process guest agent: databases and users in memory, calls recorded.
type memGuest struct {
	mu    sync.Mutex
	dbs   map[string]bool
	users map[string]guestapi.User // by name@host
	calls []string
	notes []string // notification classes carried by write calls (note)
	fail  error
}

type memGuests struct{ g *memGuest }

func (m memGuests) Guest(context.Context, string) (Guest, error) { return m.g, nil }

// note records the class of the notification a write call carries ("" without one).
func (g *memGuest) note(rc rpc.Context) {
	var n struct {
		Class string `json:"notification_classname"`
	}
	_ = json.Unmarshal(rc.Notification, &n)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.notes = append(g.notes, n.Class)
}

func (g *memGuest) rec(name string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, name)
	return g.fail
}

func (g *memGuest) ListDatabases(_ context.Context, _ rpc.Context, a guestapi.ListArgs) (guestapi.DatabasePage, error) {
	if err := g.rec("list_databases"); err != nil {
		return guestapi.DatabasePage{}, err
	}
	var names []string
	for n := range g.dbs {
		names = append(names, n)
	}
	sort.Strings(names)
	var p guestapi.DatabasePage
	for _, n := range names {
		p.Items = append(p.Items, guestapi.Schema{Name: n})
	}
	return p, nil
}

func (g *memGuest) CreateDatabase(_ context.Context, rc rpc.Context, a guestapi.CreateDatabaseArgs) error {
	g.note(rc)
	if err := a.Validate(); err != nil {
		return err
	}
	for _, d := range a.Databases {
		g.dbs[d.Name] = true
	}
	return g.rec("create_database")
}

func (g *memGuest) DeleteDatabase(_ context.Context, rc rpc.Context, a guestapi.DeleteDatabaseArgs) error {
	g.note(rc)
	delete(g.dbs, a.Database.Name)
	return g.rec("delete_database")
}

func (g *memGuest) ListUsers(_ context.Context, _ rpc.Context, a guestapi.ListArgs) (guestapi.UserPage, error) {
	var p guestapi.UserPage
	for _, u := range g.users {
		p.Items = append(p.Items, u)
	}
	return p, g.rec("list_users")
}

func (g *memGuest) CreateUser(_ context.Context, rc rpc.Context, a guestapi.CreateUserArgs) error {
	g.note(rc)
	if err := a.Validate(); err != nil {
		return err
	}
	for _, u := range a.Users {
		u.Password = nil
		g.users[u.ID()] = u
	}
	return g.rec("create_user")
}

func (g *memGuest) GetUser(_ context.Context, _ rpc.Context, a guestapi.GetUserArgs) (*guestapi.User, error) {
	if err := g.rec("get_user"); err != nil {
		return nil, err
	}
	if u, ok := g.users[a.Username+"@"+a.Host()]; ok {
		return &u, nil
	}
	return nil, nil
}

func (g *memGuest) DeleteUser(_ context.Context, rc rpc.Context, a guestapi.DeleteUserArgs) error {
	g.note(rc)
	delete(g.users, a.User.ID())
	return g.rec("delete_user")
}

func (g *memGuest) EnableRootWithPassword(_ context.Context, _ rpc.Context, a guestapi.EnableRootWithPasswordArgs) (guestapi.User, error) {
	pw := "generated-pw"
	if a.RootPassword != nil {
		pw = *a.RootPassword
	}
	return guestapi.User{Name: "root", Host: "%", Password: &pw}, g.rec("enable_root_with_password")
}

func (g *memGuest) DisableRoot(context.Context, rpc.Context) error { return g.rec("disable_root") }

func (g *memGuest) UpdateAttributes(_ context.Context, rc rpc.Context, a guestapi.UpdateAttributesArgs) error {
	g.note(rc)
	if err := a.Validate(); err != nil {
		return err
	}
	u := g.users[a.Username+"@"+a.Host()]
	delete(g.users, u.ID())
	if a.UserAttrs.Name != nil {
		u.Name = *a.UserAttrs.Name
	}
	if a.UserAttrs.Host != nil {
		u.Host = *a.UserAttrs.Host
	}
	g.users[u.ID()] = u
	return g.rec("update_attributes")
}

func (g *memGuest) ChangePasswords(_ context.Context, rc rpc.Context, a guestapi.ChangePasswordsArgs) error {
	g.note(rc)
	if err := a.Validate(); err != nil {
		return err
	}
	return g.rec("change_passwords")
}

func (g *memGuest) ListAccess(_ context.Context, _ rpc.Context, a guestapi.ListAccessArgs) ([]guestapi.Schema, error) {
	return g.users[a.Username+"@"+a.Host()].Databases, g.rec("list_access")
}

func (g *memGuest) GrantAccess(_ context.Context, _ rpc.Context, a guestapi.GrantAccessArgs) error {
	u := g.users[a.Username+"@"+a.Host()]
	for _, d := range a.Databases {
		u.Databases = append(u.Databases, guestapi.Schema{Name: d})
	}
	g.users[u.ID()] = u
	return g.rec("grant_access")
}

func (g *memGuest) RevokeAccess(_ context.Context, _ rpc.Context, a guestapi.RevokeAccessArgs) error {
	u := g.users[a.Username+"@"+a.Host()]
	var keep []guestapi.Schema
	for _, d := range u.Databases {
		if d.Name != a.Database {
			keep = append(keep, d)
		}
	}
	u.Databases = keep
	g.users[u.ID()] = u
	return g.rec("revoke_access")
}

func (g *memGuest) GetFilesystemStats(context.Context, rpc.Context) (guestapi.FilesystemStats, error) {
	return guestapi.FilesystemStats{BlockSize: 4096, TotalBlocks: 1000, FreeBlocks: 900, AvailBlocks: 850, Total: 1, Used: 0.19,
		MgrExtraInfo: map[string]any{"wal_size": 0.5}}, g.rec("get_filesystem_stats")
}

func TestGuestRoutes(t *testing.T) {
	e := newEnv(t)
	g := &memGuest{dbs: map[string]bool{"mysql": true}, users: map[string]guestapi.User{}}
	e.api.guests = memGuests{g}
	id := e.createInstance("demo", "g")
	p := "/v1.0/" + projDemo + "/instances/" + id

	// Not ready yet: Trove's 422.
	if r := e.do("demo", "GET", p+"/databases", nil); r.Code != 422 || !strings.Contains(r.faultMessage(), "is not ready") {
		t.Fatalf("databases while building: %d %s", r.Code, r.Raw)
	}
	e.markActive(id)
	if err := e.db.SetServiceStatus(t.Context(), id, status.Running); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		token, method, path, body string
		code                      int
		contains                  string
	}{
		{"demo", "POST", "/databases", `{"databases": [{"name": "app"}, {"name": "logs", "character_set": "utf8mb4"}]}`, 202, ""},
		{"demo", "POST", "/databases", `{"databases": [{"name": "app"}]}`, 400, "already exists"},
		{"demo", "POST", "/databases", `{"databases": [{"name": "mysql"}]}`, 400, "not a valid database name"},
		{"demo", "POST", "/databases", `{"databases": [{"name": "a;b"}]}`, 400, "Database create error: 'a;b' is not a valid schema name."},
		{"demo", "POST", "/databases", `{"databases": []}`, 400, "too short"},
		{"demo", "GET", "/databases", "", 200, `{"databases":[{"name":"app"},{"name":"logs"}]}`},
		{"demo", "GET", "/databases/app", "", 501, ""},
		{"demo", "DELETE", "/databases/logs", "", 202, ""},
		{"demo", "DELETE", "/databases/nope", "", 404, ""},
		{"reader", "POST", "/databases", `{"databases": [{"name": "x"}]}`, 403, ""},
		{"demo", "POST", "/users", `{"users": [{"name": "appuser", "password": "s3cret", "databases": [{"name": "app"}]}]}`, 202, ""},
		{"demo", "POST", "/users", `{"users": [{"name": "appuser", "password": "again"}]}`, 400, "already exists"},
		{"demo", "POST", "/users", `{"users": [{"name": "root", "password": "x"}]}`, 400, "not a valid user"},
		{"demo", "GET", "/users", "", 200, `{"users":[{"name":"appuser","host":"%","databases":[{"name":"app"}]}]}`},
		{"demo", "GET", "/users/appuser", "", 200, `{"user":{"name":"appuser","host":"%"`},
		{"demo", "GET", "/users/appuser%40%25", "", 200, `"name":"appuser"`},
		{"demo", "GET", "/users/ghost", "", 404, ""},
		{"demo", "PUT", "/users", `{"users": [{"name": "appuser", "password": "n3w"}]}`, 202, ""},
		{"demo", "PUT", "/users", `{"users": [{"name": "ghost", "password": "n3w"}]}`, 404, ""},
		{"demo", "GET", "/users/appuser/databases", "", 200, `{"databases":[{"name":"app"}]}`},
		{"demo", "PUT", "/users/appuser/databases", `{"databases": [{"name": "nodb"}]}`, 404, ""},
		{"demo", "DELETE", "/users/appuser/databases/app", "", 202, ""},
		{"demo", "DELETE", "/users/appuser/databases/app", "", 404, ""},
		{"demo", "PUT", "/users/appuser/databases", `{"databases": [{"name": "app"}]}`, 202, ""},
		{"demo", "PUT", "/users/appuser", `{"user": {"name": "renamed"}}`, 202, ""},
		{"demo", "PUT", "/users/renamed", `{"user": {}}`, 400, "does not have enough properties"},
		{"demo", "GET", "/users/renamed", "", 200, `"databases":[{"name":"app"}]`},
		{"demo", "GET", "/users/appuser", "", 404, ""},
		{"reader", "PUT", "/users/renamed", `{"user": {"password": "x1"}}`, 403, ""},
		{"demo", "DELETE", "/users/renamed", "", 202, ""},
		{"demo", "GET", "/root", "", 200, `{"rootEnabled":false}`},
		{"demo", "DELETE", "/root", "", 404, ""},
		{"demo", "POST", "/root", "", 200, `{"user":{"name":"root","password":"generated-pw"}}`},
		{"demo", "POST", "/root", `{"password": "Chosen1"}`, 200, `"password":"Chosen1"`},
		{"demo", "GET", "/root", "", 200, `{"rootEnabled":true}`},
		{"later", "", "", "", 0, ""}, // Trove compares whole-second timestamps: disable must come later
		{"demo", "DELETE", "/root", "", 204, ""},
		{"demo", "GET", "/root", "", 200, `{"rootEnabled":false}`},
	}
	for _, s := range steps {
		if s.token == "later" {
			e.db.Now = func() time.Time { return time.Now().Add(2 * time.Second) }
			continue
		}
		r := e.do(s.token, s.method, p+s.path, bodyOrNil(s.body))
		if r.Code != s.code || !strings.Contains(r.Raw, s.contains) {
			t.Errorf("%s %s %s: %d %s", s.token, s.method, s.path, r.Code, r.Raw)
		}
	}
	// Show asks the guest for volume usage (used_percent = 100·(total−free)/(total−free+avail)).
	if r := e.do("demo", "GET", p, nil); !strings.Contains(r.Raw, `"volume":{"size":1,"used":0.19,"used_percent":10.53,"wal_size":0.5}`) {
		t.Errorf("show with usage: %s", r.Raw)
	}
	if r := e.do("demo2", "GET", "/v1.0/"+projDemo2+"/instances/"+id+"/databases", nil); r.Code != 404 {
		t.Errorf("other tenant's databases: %d", r.Code)
	}
	// Guest failures are Trove's GuestError (400), never a 500.
	g.fail = rpc.Errorf("OperationalError", "boom")
	if r := e.do("demo", "GET", p+"/databases", nil); r.Code != 400 || !strings.Contains(r.faultMessage(), "boom") {
		t.Errorf("guest error: %d %s", r.Code, r.Raw)
	}
	g.fail = rpc.ErrTimeout
	if r := e.do("demo", "GET", p+"/users", nil); r.Code != 400 || !strings.Contains(r.faultMessage(), "Timeout") {
		t.Errorf("guest timeout: %d %s", r.Code, r.Raw)
	}
}

func bodyOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}
