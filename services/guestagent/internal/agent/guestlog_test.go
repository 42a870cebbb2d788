package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
	"github.com/trove-go/trove/services/guestagent/internal/mysql"
	"github.com/trove-go/trove/services/guestagent/internal/postgresql"
)

// guestLogCase is one datastore for TestGuestLogs: the USER log holding slow statements, the statement, and how
// to run SQL and read a variable on the real server.
type guestLogCase struct {
	manager   string
	newMgr    func(datastore.Options) (datastore.Manager, error)
	port      int
	log       string // the USER log a slow statement lands in
	slow      string // a statement slower than guest_log_long_query_time
	variable  string // a setting the log's enabling turns on, and its value then
	on, off   string
	sql       func(t *testing.T, addr, stmt string) string
	userLogs  []string // what a non-admin lists
	adminLogs []string // what an admin lists
}

func TestGuestLogs(t *testing.T) {
	cases := []guestLogCase{
		{
			manager: "mariadb", newMgr: func(o datastore.Options) (datastore.Manager, error) { return mysql.New(o) },
			port: 3306, log: "slow_query", slow: "SELECT SLEEP(0.4) AS slow_one",
			variable: "slow_query_log", on: "1", off: "0",
			sql: func(t *testing.T, addr, stmt string) string {
				out, err := exec.Command("mariadb", "--no-defaults", "-h", addr, "-P", "3306", "-u", "root", "-p"+rootPassword,
					"-N", "-B", "-e", stmt).CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %v %s", stmt, err, out)
				}
				return strings.TrimSpace(string(out))
			},
			userLogs: []string{"general", "slow_query"}, adminLogs: []string{"general", "slow_query", "error", "guest"},
		},
		{
			manager: "postgresql", newMgr: func(o datastore.Options) (datastore.Manager, error) {
				o.Manager = "postgresql"
				return postgresql.New(o)
			},
			port: 5432, log: "general", slow: "SELECT pg_sleep(0.4) AS slow_one",
			variable: "log_statement", on: "all", off: "none",
			sql: func(t *testing.T, addr, stmt string) string {
				cmd := exec.Command("psql", "-X", "-q", "-A", "-t", "-h", addr, "-p", "5432", "-U", "root", "-d", "postgres", "-c", stmt)
				cmd.Env = append(os.Environ(), "PGPASSWORD="+rootPassword)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %v %s", stmt, err, out)
				}
				return strings.TrimSpace(string(out))
			},
			userLogs: []string{"general"}, adminLogs: []string{"general", "guest"},
		},
	}
	for i, c := range cases {
		t.Run(c.manager, func(t *testing.T) { testGuestLogs(t, c, loopback(60+i)) })
	}
}

func testGuestLogs(t *testing.T, c guestLogCase, addr string) {
	ctx := context.Background()
	dir, store := t.TempDir(), t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // postgres runs as its own user when we are root
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	agentLog := filepath.Join(t.TempDir(), "trove-guestagent.log")
	if err := os.WriteFile(agentLog, []byte("time=x level=info msg=\"guest agent serving\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	layout := datastore.Layout{Root: dir}
	vol := datastore.NewVolume(dir, 0)
	log := logrus.NewEntry(logrus.StandardLogger())
	opts := datastore.Options{Manager: c.manager, Layout: layout, BindHost: addr, Port: c.port, Volume: vol, Log: log,
		IgnoreUsers: []string{"os_admin"}}
	const instanceID = "6a0c3c3e-0000-4000-8000-00000000001f"
	a, err := New(Deps{Layout: layout, Volume: vol, Conductor: &recorder{}, Period: 1, Log: log,
		NewManager: func() (datastore.Manager, error) { return c.newMgr(opts) },
		Storage: func(driver, container string, creds backupstore.Credentials) (backupstore.Store, error) {
			if container != "database_logs" {
				t.Errorf("store opened with container %q, want guest_log_container_name", container)
			}
			return backupstore.New(backupstore.Config{Driver: backupstore.DriverDirectory,
				Directory: backupstore.DirectoryConfig{Root: backupstore.ProjectDir(store, testTenant)}}, creds)
		},
		GuestLogs: GuestLogConfig{InstanceID: instanceID, Manager: c.manager, Container: "database_logs", Limit: 200,
			Exposed: guestapi.DefaultExposedLogs(c.manager), LongQueryMS: 200, AgentLog: agentLog}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	pw := rootPassword
	if err := a.Prepare(ctx, guestapi.PrepareArgs{RootPassword: &pw}); err != nil {
		t.Fatal(err)
	}
	names := func(admin bool) []string {
		t.Helper()
		logs, err := a.GuestLogList(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range logs {
			out = append(out, l.Name)
			if l.Name == c.log && l.Status != guestapi.LogDisabled {
				t.Fatalf("%s before enabling: %+v", c.log, l)
			}
		}
		return out
	}
	if got := strings.Join(names(false), ","); got != strings.Join(c.userLogs, ",") {
		t.Fatalf("non-admin list %s, want %v", got, c.userLogs)
	}
	if got := strings.Join(names(true), ","); got != strings.Join(c.adminLogs, ",") {
		t.Fatalf("admin list %s, want %v", got, c.adminLogs)
	}
	act := func(admin bool, args guestapi.GuestLogActionArgs) (guestapi.GuestLog, error) {
		return a.GuestLogAction(ctx, args, admin, backupstore.Credentials{})
	}
	for _, bad := range []struct {
		args  guestapi.GuestLogActionArgs
		admin bool
		kind  string
	}{
		{guestapi.GuestLogActionArgs{LogName: "nosuch"}, true, kindNotFound},
		{guestapi.GuestLogActionArgs{LogName: "guest", Publish: true}, false, kindLogAccessForbidden},
		{guestapi.GuestLogActionArgs{LogName: "guest", Enable: true}, true, datastore.KindBadRequest},
		{guestapi.GuestLogActionArgs{LogName: c.log, Enable: true, Disable: true}, false, datastore.KindBadRequest},
	} {
		if _, err := act(bad.admin, bad.args); datastore.KindOf(err) != bad.kind {
			t.Fatalf("%+v: %v (kind %q), want kind %s", bad.args, err, datastore.KindOf(err), bad.kind)
		}
	}

	// Enable: the running server logs at once; a restart keeps it.
	l, err := act(false, guestapi.GuestLogActionArgs{LogName: c.log, Enable: true})
	if err != nil || l.Status != guestapi.LogEnabled && l.Status != guestapi.LogReady || l.Type != guestapi.LogTypeUser {
		t.Fatalf("enable: %+v %v", l, err)
	}
	variable := func() string {
		if c.manager == "postgresql" {
			return c.sql(t, addr, "SHOW "+c.variable)
		}
		return c.sql(t, addr, "SELECT @@GLOBAL."+c.variable)
	}
	if got := variable(); got != c.on {
		t.Fatalf("after enable: %s = %q, want %q", c.variable, got, c.on)
	}
	if err := a.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got := variable(); got != c.on {
		t.Fatalf("after a restart: %s = %q, want %q", c.variable, got, c.on)
	}
	c.sql(t, addr, c.slow)

	// The general log records every statement, but never a password the guest sets.
	if _, err := act(false, guestapi.GuestLogActionArgs{LogName: "general", Enable: true}); err != nil {
		t.Fatal(err)
	}
	const marker = "Pw-Marker-7391"
	userPW := marker
	if err := a.Shared(func(m datastore.Manager) error {
		return m.CreateUsers(ctx, []guestapi.User{{Name: "logged", Host: "%", Password: &userPW}})
	}); err != nil {
		t.Fatal(err)
	}
	c.sql(t, addr, "SELECT 'general_marker'")
	general, err := os.ReadFile(datastore.GuestLogFile(layout, c.manager, "general"))
	if err != nil || !strings.Contains(string(general), "general_marker") || strings.Contains(string(general), marker) {
		t.Fatalf("general log (%v): statement logged %v, password logged %v:\n%s", err,
			strings.Contains(string(general), "general_marker"), strings.Contains(string(general), marker), general)
	}

	// Publish: the objects hold the slow statement, named under the log's prefix, with a metafile.
	l, err = act(false, guestapi.GuestLogActionArgs{LogName: c.log, Publish: true})
	if err != nil || l.Status != guestapi.LogPublished || l.Published <= 0 || l.Container != "database_logs" ||
		l.Prefix != instanceID+"."+c.manager+"-"+c.log+"." || l.Metafile != instanceID+"."+c.manager+"-"+c.log+"_metafile" {
		t.Fatalf("publish: %+v %v", l, err)
	}
	prefix, metafile := l.Prefix, l.Metafile
	objects := func() (content string, n int) {
		entries, err := os.ReadDir(filepath.Join(store, testTenant))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix+"log-") {
				b, err := os.ReadFile(filepath.Join(store, testTenant, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				content += string(b)
				n++
			} else if !strings.HasPrefix(e.Name(), instanceID+".") && !strings.HasPrefix(e.Name(), instanceID+"_") && e.Name() != metafile {
				t.Fatalf("unexpected object %s", e.Name())
			}
		}
		return content, n
	}
	content, n := objects()
	if !strings.Contains(content, "slow_one") || n < 2 || int64(len(content)) != l.Published {
		t.Fatalf("%d objects (guest_log_limit 200 bytes), %d bytes (published %d), slow statement missing:\n%s", n, len(content), l.Published, content)
	}
	if _, err := os.Stat(filepath.Join(store, testTenant, metafile)); err != nil {
		t.Fatalf("metafile: %v", err)
	}
	// More statements: Partial, and the next publish adds only what is new.
	c.sql(t, addr, strings.Replace(c.slow, "slow_one", "slow_two", 1))
	if l, err = act(false, guestapi.GuestLogActionArgs{LogName: c.log}); err != nil || l.Status != guestapi.LogPartial || l.Pending <= 0 {
		t.Fatalf("show after more statements: %+v %v", l, err)
	}
	if l, err = act(false, guestapi.GuestLogActionArgs{LogName: c.log, Publish: true}); err != nil || l.Pending != 0 {
		t.Fatalf("second publish: %+v %v", l, err)
	}
	if content, _ = objects(); strings.Count(content, "slow_one") != strings.Count(content, "slow_two") || !strings.Contains(content, "slow_two") {
		t.Fatalf("after the second publish:\n%s", content)
	}

	// An admin publishes the guest log (SYS).
	if g, err := act(true, guestapi.GuestLogActionArgs{LogName: "guest", Publish: true}); err != nil || g.Type != guestapi.LogTypeSys || g.Status != guestapi.LogPublished {
		t.Fatalf("guest log publish: %+v %v", g, err)
	}

	// Discard removes the log's objects and metafile; disable turns the server's log off.
	if l, err = act(false, guestapi.GuestLogActionArgs{LogName: c.log, Discard: true, Disable: true}); err != nil ||
		l.Published != 0 || l.Status != guestapi.LogDisabled || l.Prefix != "None" {
		t.Fatalf("discard: %+v %v", l, err)
	}
	if _, n = objects(); n != 0 {
		t.Fatalf("%d objects left after discard", n)
	}
	if _, err := os.Stat(filepath.Join(store, testTenant, metafile)); !os.IsNotExist(err) {
		t.Fatalf("metafile after discard: %v", err)
	}
	if got := variable(); got != c.off {
		t.Fatalf("after disable: %s = %q, want %q", c.variable, got, c.off)
	}
}

// A rotated log (a new first line, or a smaller file) shows Rotated with the whole file pending, and the next
// publish discards the old objects before publishing the new file; a log file that does not exist cannot be
// published. The error log of a guest whose server never ran, with a real directory store.
func TestGuestLogRotation(t *testing.T) {
	ctx := context.Background()
	dir, store := t.TempDir(), t.TempDir()
	layout := datastore.Layout{Root: dir}
	vol := datastore.NewVolume(dir, 0)
	log := logrus.NewEntry(logrus.StandardLogger())
	a, err := New(Deps{Layout: layout, Volume: vol, Conductor: &recorder{}, Period: 1, Log: log,
		NewManager: func() (datastore.Manager, error) {
			return mysql.New(datastore.Options{Manager: "mariadb", Layout: layout, BindHost: "127.0.0.1", Port: 3306, Volume: vol, Log: log})
		},
		Storage: func(_, _ string, creds backupstore.Credentials) (backupstore.Store, error) {
			return backupstore.New(backupstore.Config{Driver: backupstore.DriverDirectory, Directory: backupstore.DirectoryConfig{Root: store}}, creds)
		},
		GuestLogs: GuestLogConfig{InstanceID: "i1", Manager: "mariadb", Container: "database_logs", Limit: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	if err := layout.Make(nil); err != nil {
		t.Fatal(err)
	}
	publish := func() guestapi.GuestLog {
		t.Helper()
		l, err := a.GuestLogAction(ctx, guestapi.GuestLogActionArgs{LogName: "error", Publish: true}, true, backupstore.Credentials{})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	content := func() string {
		t.Helper()
		entries, err := os.ReadDir(store)
		if err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "i1.mariadb-error.log-") {
				b, _ := os.ReadFile(filepath.Join(store, e.Name()))
				all.Write(b)
			}
		}
		return all.String()
	}
	if _, err := a.GuestLogAction(ctx, guestapi.GuestLogActionArgs{LogName: "guest", Publish: true}, true, backupstore.Credentials{}); err == nil ||
		!strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("publishing a guest log without log_file: %v", err)
	}
	file := datastore.GuestLogFile(layout, "mariadb", "error")
	if err := os.WriteFile(file, []byte("first start\nready for connections\nhalf a li"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Only whole lines are published: the line being written waits.
	if l := publish(); l.Status != guestapi.LogPartial || l.Published != int64(len("first start\nready for connections\n")) || l.Pending != int64(len("half a li")) {
		t.Fatalf("first publish: %+v", l)
	}
	if got := content(); got != "first start\nready for connections\n" {
		t.Fatalf("published %q", got)
	}
	// Rotated: another first line.
	if err := os.WriteFile(file, []byte("second start after rotation\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := a.GuestLogAction(ctx, guestapi.GuestLogActionArgs{LogName: "error"}, true, backupstore.Credentials{})
	if err != nil || l.Status != guestapi.LogRotated || l.Pending != int64(len("second start after rotation\n")) {
		t.Fatalf("after rotation: %+v %v", l, err)
	}
	if l := publish(); l.Status != guestapi.LogPublished || l.Published != int64(len("second start after rotation\n")) {
		t.Fatalf("publish after rotation: %+v", l)
	}
	if got := content(); got != "second start after rotation\n" {
		t.Fatalf("after rotation the store holds %q", got)
	}
}
