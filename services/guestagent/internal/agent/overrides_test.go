package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
	"github.com/trove-go/trove/services/guestagent/internal/mysql"
	"github.com/trove-go/trove/services/guestagent/internal/postgresql"
)

// overrideCase is one datastore for TestOverrides: a dynamic and a static parameter, their values in a group,
// the defaults they return to, and how to read a value from the real server.
type overrideCase struct {
	name                 string
	manager              func(datastore.Options) (datastore.Manager, error)
	port                 int
	dynamic, static      string
	dynValue, statValue  string
	dynValue2            string
	dynDefault, statDflt string
	read                 func(t *testing.T, addr, name string) string
}

// loopback is a 127.79.x.y address unique to this test process and case.
func loopback(n int) string {
	pid := os.Getpid()
	return fmt.Sprintf("127.79.%d.%d", 1+(pid>>8)%250, 1+(pid+n)%250)
}

const rootPassword = "Root-pass-42"

func TestOverrides(t *testing.T) {
	cases := []overrideCase{
		{
			name:    "mariadb",
			manager: func(o datastore.Options) (datastore.Manager, error) { return mysql.New(o) },
			port:    3306, dynamic: "max_connections", static: "innodb_log_buffer_size",
			dynValue: "555", statValue: "33554432", dynValue2: "556", dynDefault: "151", statDflt: "16777216",
			read: func(t *testing.T, addr, name string) string {
				out, err := exec.Command("mariadb", "--no-defaults", "-h", addr, "-P", "3306", "-u", "root", "-p"+rootPassword,
					"-N", "-B", "-e", "SELECT @@GLOBAL."+name).CombinedOutput()
				if err != nil {
					t.Fatalf("reading %s: %v %s", name, err, out)
				}
				return strings.TrimSpace(string(out))
			},
		},
		{
			name: "postgresql",
			manager: func(o datastore.Options) (datastore.Manager, error) {
				o.Manager = "postgresql"
				return postgresql.New(o)
			},
			port: 5432, dynamic: "work_mem", static: "max_connections",
			dynValue: "8MB", statValue: "101", dynValue2: "9MB", dynDefault: "4MB", statDflt: "50",
			read: func(t *testing.T, addr, name string) string {
				cmd := exec.Command("psql", "-X", "-q", "-A", "-t", "-h", addr, "-p", "5432", "-U", "root", "-d", "postgres", "-c", "SHOW "+name)
				cmd.Env = append(os.Environ(), "PGPASSWORD="+rootPassword)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("reading %s: %v %s", name, err, out)
				}
				return strings.TrimSpace(string(out))
			},
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) { testOverrides(t, c, loopback(i)) })
	}
}

func testOverrides(t *testing.T, c overrideCase, addr string) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // postgres runs as its own user when we are root
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{}
	layout := datastore.Layout{Root: dir}
	vol := datastore.NewVolume(dir, 0)
	log := logrus.NewEntry(logrus.StandardLogger())
	opts := datastore.Options{Manager: "mariadb", Layout: layout, BindHost: addr, Port: c.port, Volume: vol, Log: log,
		IgnoreUsers: []string{"os_admin"}}
	a, err := New(Deps{Layout: layout, Volume: vol, Conductor: rec, Period: 1, Log: log,
		NewManager: func() (datastore.Manager, error) { return c.manager(opts) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	pw := rootPassword
	if err := a.Prepare(ctx, guestapi.PrepareArgs{RootPassword: &pw}); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string { return c.read(t, addr, name) }
	expect := func(when, name, want string) {
		t.Helper()
		if got := read(name); got != want {
			t.Fatalf("%s: %s = %q, want %q", when, name, got, want)
		}
	}
	status := func(when string, want datastore.Status) {
		t.Helper()
		got := a.Status(ctx)
		if got == datastore.Healthy && a.restartPending() {
			got = RestartRequired
		}
		if got != want {
			t.Fatalf("%s: status %q (pending %v), want %q", when, got, a.restartPending(), want)
		}
	}
	lastHeartbeat := func(when string, want datastore.Status) {
		t.Helper()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if n := len(rec.sent); n == 0 || rec.sent[n-1] != string(want) {
			t.Fatalf("%s: heartbeats %v, want the last %q", when, rec.sent, want)
		}
	}
	expect("before", c.dynamic, c.dynDefault)
	expect("before", c.static, c.statDflt)
	status("before", datastore.Healthy)

	// attach: both in the file; the dynamic one in force at once, the static one after a restart
	group := map[string]any{c.dynamic: json.Number(c.dynValue), c.static: json.Number(c.statValue)}
	if c.name == "postgresql" {
		group[c.dynamic] = c.dynValue
	}
	if err := a.UpdateOverrides(ctx, group, false); err != nil {
		t.Fatal(err)
	}
	expect("update_overrides only", c.dynamic, c.dynDefault)
	status("update_overrides only", RestartRequired)
	r, err := a.ApplyOverrides(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if !r.RestartRequired || len(r.Pending) != 1 || r.Pending[0] != c.static {
		t.Fatalf("apply_overrides = %+v, want %s pending", r, c.static)
	}
	expect("applied", c.dynamic, c.dynValue)
	expect("applied", c.static, c.statDflt)
	status("applied", RestartRequired)
	lastHeartbeat("applied", RestartRequired)
	if err := a.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	expect("restarted", c.dynamic, c.dynValue)
	expect("restarted", c.static, c.statValue)
	status("restarted", datastore.Healthy)

	// a group change of the dynamic value only: in force at once, the unchanged static one is left alone
	changed := map[string]any{c.dynamic: json.Number(c.dynValue2), c.static: group[c.static]}
	if c.name == "postgresql" {
		changed[c.dynamic] = c.dynValue2
	}
	if err := a.UpdateOverrides(ctx, changed, false); err != nil {
		t.Fatal(err)
	}
	if r, err := a.ApplyOverrides(ctx, changed); err != nil || r.RestartRequired {
		t.Fatalf("dynamic change in a group with a static value: %+v %v", r, err)
	}
	expect("changed", c.dynamic, c.dynValue2)
	status("changed", datastore.Healthy)

	// detach: the dynamic one returns to its default at once, the static one after a restart
	if err := a.UpdateOverrides(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	if r, err = a.ApplyOverrides(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if !r.RestartRequired {
		t.Fatalf("detach apply = %+v", r)
	}
	expect("detached", c.dynamic, c.dynDefault)
	expect("detached", c.static, c.statValue)
	status("detached", RestartRequired)
	if err := a.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	expect("detached and restarted", c.static, c.statDflt)
	status("detached and restarted", datastore.Healthy)

	// a dynamic-only change needs no restart; an agent restart keeps the overrides in force
	if err := a.UpdateOverrides(ctx, map[string]any{c.dynamic: group[c.dynamic]}, false); err != nil {
		t.Fatal(err)
	}
	if r, err = a.ApplyOverrides(ctx, map[string]any{c.dynamic: group[c.dynamic]}); err != nil || r.RestartRequired {
		t.Fatalf("dynamic only: %+v %v", r, err)
	}
	status("dynamic only", datastore.Healthy)
	a.Shutdown(ctx)
	a2, err := New(Deps{Layout: layout, Volume: vol, Conductor: rec, Period: 1, Log: log,
		NewManager: func() (datastore.Manager, error) { return c.manager(opts) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a2.Shutdown(context.Background()) })
	if err := a2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	expect("agent restarted", c.dynamic, c.dynValue)

	// bad names and values never reach a file
	for _, bad := range []map[string]any{{"x = 1\ninit_file": json.Number("1")}, {c.dynamic: "1'; DROP"}, {c.dynamic: "a\nb = c"}} {
		if err := a2.UpdateOverrides(ctx, bad, false); datastore.KindOf(err) != datastore.KindBadRequest {
			t.Fatalf("%q accepted: %v", bad, err)
		}
	}
}

// TestPrepareWithOverrides: a configuration group given at create is in force from the first start.
func TestPrepareWithOverrides(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	layout := datastore.Layout{Root: dir}
	vol := datastore.NewVolume(dir, 0)
	log := logrus.NewEntry(logrus.StandardLogger())
	addr := loopback(7)
	a, err := New(Deps{Layout: layout, Volume: vol, Conductor: &recorder{}, Period: 1, Log: log,
		NewManager: func() (datastore.Manager, error) {
			return mysql.New(datastore.Options{Manager: "mariadb", Layout: layout, BindHost: addr, Port: 3306, Volume: vol, Log: log})
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	pw := rootPassword
	var args guestapi.PrepareArgs
	if err := json.Unmarshal([]byte(`{"root_password": "`+pw+`", "overrides": {"max_connections": 321, "myisam_sort_buffer_size": 1152921504606846975}}`), &args); err != nil {
		t.Fatal(err)
	}
	if err := a.Prepare(ctx, args); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mariadb", "--no-defaults", "-h", addr, "-P", "3306", "-u", "root", "-p"+pw, "-N", "-B", "-e",
		"SELECT @@GLOBAL.max_connections, @@GLOBAL.myisam_sort_buffer_size").CombinedOutput()
	if err != nil || strings.Fields(string(out))[0] != "321" {
		t.Fatalf("after prepare: %s %v", out, err)
	}
	if st := a.Status(ctx); st != datastore.Healthy {
		t.Fatalf("status %s", st)
	}
}

// restartPending reports whether a changed parameter waits for a restart.
func (a *Agent) restartPending() bool {
	a.ovrMu.Lock()
	defer a.ovrMu.Unlock()
	o, err := datastore.LoadOverrides(a.d.Layout)
	return err == nil && len(o.Pending) > 0
}
