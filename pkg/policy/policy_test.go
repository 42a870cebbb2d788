package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/config"
)

// Every rule Trove registers (api.md §2), by the class of its default.
var (
	writeRules = []string{
		"instance:create", "instance:delete", "instance:force_delete", "instance:update", "instance:edit",
		"instance:restart", "instance:resize_volume", "instance:resize_flavor", "instance:promote_to_replica_source",
		"instance:eject_replica_source", "instance:module_apply", "instance:module_remove",
		"instance:extension:root:create", "instance:extension:root:delete",
		"cluster:extension:root:create", "cluster:extension:root:delete",
		"instance:extension:user:create", "instance:extension:user:delete", "instance:extension:user:update",
		"instance:extension:user:update_all", "instance:extension:user_access:update",
		"instance:extension:user_access:delete", "instance:extension:database:create",
		"instance:extension:database:delete", "cluster:create", "cluster:delete", "cluster:force_delete",
		"cluster:action", "backup:create", "backup:delete", "backup_strategy:create", "backup_strategy:delete",
		"configuration:create", "configuration:delete", "configuration:update", "configuration:edit",
		"module:create", "module:delete", "module:update", "module:reapply",
	}
	readRules = []string{
		"instance:index", "instance:detail", "instance:show", "instance:configuration", "instance:guest_log_list",
		"instance:backups", "instance:module_list", "instance:extension:root:index", "cluster:extension:root:index",
		"instance:extension:user:index", "instance:extension:user:show", "instance:extension:user_access:index",
		"instance:extension:database:index", "instance:extension:database:show", "cluster:index", "cluster:show",
		"cluster:show_instance", "backup:index", "backup:show", "backup_strategy:index", "configuration:index",
		"configuration:show", "configuration:instances", "configuration-parameter:index",
		"configuration-parameter:show", "configuration-parameter:index_by_version",
		"configuration-parameter:show_by_version", "limits:index", "module:index", "module:show", "module:instances",
	}
	adminRules  = []string{"instance:reset_status", "cluster:reset-status", "datastore:delete", "admin"}
	anyoneRules = []string{
		"datastore:index", "datastore:show", "datastore:version_show", "datastore:version_show_by_uuid",
		"datastore:version_index", "datastore:list_associated_flavors", "datastore:list_associated_volume_types",
		"flavor:index", "flavor:show",
	}
	roleAdminRules = []string{"backup:index:all_projects", "context_is_admin"}
	ownerRules     = []string{"admin_or_owner", "default"}
)

const tenant = "p-demo"

// callers: Keystone's implied roles mean a member token carries member+reader and an admin token all three.
var callers = []struct {
	name  string
	creds Credentials
}{
	{"admin", Credentials{Roles: []string{"admin", "member", "reader"}, ProjectID: "p-admin"}},
	{"member", Credentials{Roles: []string{"member", "reader"}, ProjectID: tenant}},
	{"reader", Credentials{Roles: []string{"reader"}, ProjectID: tenant}},
	{"other-member", Credentials{Roles: []string{"member", "reader"}, ProjectID: "p-other"}},
	{"no-role", Credentials{Roles: nil, ProjectID: tenant}},
	{"is_admin-flag", Credentials{Roles: []string{"member"}, ProjectID: "p-other", IsAdmin: true}},
}

func TestDefaultRules(t *testing.T) {
	// allowed[class] lists the callers (by name) allowed, against an object of project `tenant`.
	classes := []struct {
		rules   []string
		allowed string
	}{
		{writeRules, "admin member"},
		{readRules, "admin member reader"},
		{adminRules, "admin is_admin-flag"},
		{anyoneRules, "admin member reader other-member no-role is_admin-flag"},
		{roleAdminRules, "admin"},
		{ownerRules, "admin member reader no-role is_admin-flag"},
	}
	e, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	target := map[string]string{"tenant": tenant}
	for _, cl := range classes {
		allowed := strings.Fields(cl.allowed)
		for _, rule := range cl.rules {
			all = append(all, rule)
			for _, c := range callers {
				want := slices.Contains(allowed, c.name)
				err := e.Enforce(rule, c.creds, target)
				if got := err == nil; got != want {
					t.Errorf("%s as %s: allowed=%v, want %v (%v)", rule, c.name, got, want, err)
				}
				var na *NotAuthorized
				if err != nil && (!errors.As(err, &na) || na.Rule != rule) {
					t.Errorf("%s as %s: error %v is not *NotAuthorized{%s}", rule, c.name, err, rule)
				}
			}
		}
	}
	// The test's lists and the registered defaults name exactly the same rules.
	var registered []string
	for _, r := range Defaults {
		registered = append(registered, r.Name)
	}
	sort.Strings(all)
	sort.Strings(registered)
	if strings.Join(all, "\n") != strings.Join(registered, "\n") {
		t.Errorf("registered rules differ from the expected set:\nregistered %v\nexpected   %v", registered, all)
	}
}

func TestUpstreamDefaultsViaOverride(t *testing.T) {
	// An operator can restore Trove's own defaults; then a reader of the project may create.
	up := map[string]string{}
	for _, r := range Defaults {
		up[r.Name] = r.Upstream
	}
	e, err := New(up)
	if err != nil {
		t.Fatal(err)
	}
	reader := callers[2].creds
	if err := e.Enforce("instance:create", reader, map[string]string{"tenant": tenant}); err != nil {
		t.Errorf("upstream admin_or_owner refused the project's reader: %v", err)
	}
	if err := e.Enforce("instance:create", reader, map[string]string{"tenant": "p-other"}); err == nil {
		t.Error("upstream admin_or_owner allowed another project")
	}
}

func TestNotAuthorizedMessage(t *testing.T) {
	e, _ := New(nil)
	err := e.Enforce("instance:create", callers[2].creds, map[string]string{"tenant": tenant})
	if err == nil || err.Error() != "Policy doesn't allow instance:create to be performed." {
		t.Fatalf("got %v", err)
	}
}

func TestUnregisteredRule(t *testing.T) {
	e, err := New(map[string]string{"custom": "@"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{"instance:nonsense", "custom"} {
		if err := e.Enforce(rule, callers[0].creds, nil); !errors.Is(err, ErrNotRegistered) {
			t.Errorf("%s: got %v, want ErrNotRegistered", rule, err)
		}
	}
}

func TestIsAdmin(t *testing.T) {
	defaults, _ := New(nil)
	overridden, err := New(map[string]string{"context_is_admin": "role:cloud_admin"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		e     *Enforcer
		roles []string
		want  bool
	}{
		{"admin role", defaults, []string{"admin", "member"}, true},
		{"admin role upper case", defaults, []string{"Admin"}, true},
		{"member", defaults, []string{"member", "reader"}, false},
		{"overridden rule, admin", overridden, []string{"admin"}, false},
		{"overridden rule, cloud_admin", overridden, []string{"cloud_admin"}, true},
		{"admin_roles wins over rule", defaults.WithAdminRoles([]string{"Ops", ""}), []string{"ops"}, true},
		{"admin_roles excludes admin", defaults.WithAdminRoles([]string{"ops"}), []string{"admin"}, false},
		{"empty admin_roles falls back", defaults.WithAdminRoles(nil), []string{"admin"}, true},
	}
	for _, tc := range tests {
		if got := tc.e.IsAdmin(Credentials{Roles: tc.roles, ProjectID: "p"}); got != tc.want {
			t.Errorf("%s: IsAdmin=%v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	reader := callers[2].creds
	own := map[string]string{"tenant": tenant}
	tests := []struct {
		name       string
		path       string
		wantErr    bool
		rule       string
		wantAllow  bool
		wantSource string // effective rule text, if checked
	}{
		{name: "missing file = defaults", path: filepath.Join(dir, "nope.yaml"), rule: "instance:create"},
		{name: "yaml override", rule: "instance:create", wantAllow: true, path: write("a.yaml",
			"# Trove policy\n---\n\"instance:create\": \"rule:admin_or_owner\"  # back to upstream\n'instance:delete': '!'\n")},
		{name: "yaml plain scalars", rule: "instance:create", wantAllow: true, path: write("b.yaml",
			"instance:create: role:reader and project_id:%(tenant)s\n")},
		{name: "yaml never", rule: "instance:show", path: write("c.yaml", "\"instance:show\": \"!\"\n")},
		{name: "yaml commented sample lines only", rule: "instance:show", wantAllow: true, path: write("d.yaml",
			"#\"instance:show\": \"!\"\n\n")},
		{name: "json override", rule: "instance:create", wantAllow: true, path: write("e.json",
			`{"instance:create": "rule:reader_here", "reader_here": "role:reader and project_id:%(tenant)s"}`)},
		{name: "empty string is always", rule: "instance:create", wantAllow: true, path: write("f.yaml",
			"\"instance:create\": \"\"\n")},
		{name: "yaml unquoted bang refused", path: write("g.yaml", "instance:create: !\n"), wantErr: true},
		{name: "yaml nested refused", path: write("h.yaml", "instance:create:\n  - role:admin\n"), wantErr: true},
		{name: "bad rule syntax", path: write("i.yaml", "\"instance:create\": \"role:admin or\"\n"), wantErr: true},
		{name: "duplicate key", path: write("j.yaml", "a: '@'\na: '!'\n"), wantErr: true},
		{name: "bad json", path: write("k.json", `{"instance:create": 1}`), wantErr: true},
		{name: "unterminated quote", path: write("l.yaml", "\"instance:create: '@'\n"), wantErr: true},
	}
	for _, tc := range tests {
		e, err := Load(tc.path)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: Load error %v, wantErr %v", tc.name, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got := e.Check(tc.rule, reader, own); got != tc.wantAllow {
			t.Errorf("%s: reader %s allowed=%v, want %v", tc.name, tc.rule, got, tc.wantAllow)
		}
	}
}

func TestFromConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte("\"flavor:index\": \"role:admin\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "trove.conf")
	if err := os.WriteFile(conf, []byte("[DEFAULT]\nadmin_roles = ops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.LoadFiles(conf)
	if err != nil {
		t.Fatal(err)
	}
	e, err := FromConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	member := callers[1].creds
	if e.Check("flavor:index", member, nil) {
		t.Error("policy.yaml next to trove.conf was not applied")
	}
	if !e.IsAdmin(Credentials{Roles: []string{"ops"}}) || e.IsAdmin(Credentials{Roles: []string{"admin"}}) {
		t.Error("[DEFAULT] admin_roles not honoured")
	}
}

func BenchmarkEnforce(b *testing.B) {
	e, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	creds := callers[1].creds
	target := map[string]string{"tenant": tenant}
	for b.Loop() {
		if err := e.Enforce("instance:create", creds, target); err != nil {
			b.Fatal(err)
		}
	}
}

// Check reports whether the rule allows the action; an unregistered rule is never allowed.
func (e *Enforcer) Check(rule string, creds Credentials, target map[string]string) bool {
	return e.Enforce(rule, creds, target) == nil
}
