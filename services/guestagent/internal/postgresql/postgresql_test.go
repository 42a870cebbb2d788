package postgresql

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// testAddr is a loopback address unique to this test process (127.77.<pid>.<pid>).
func testAddr() string {
	pid := os.Getpid()
	return fmt.Sprintf("127.77.%d.%d", 1+(pid>>8)%250, 1+pid%250)
}

func strp(s string) *string { return &s }

// traversableTempDir is a temp dir the postgres user can reach (t.TempDir's parent is 0700).
func traversableTempDir(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func start(t *testing.T) (*Manager, string) {
	t.Helper()
	dir := traversableTempDir(t)
	addr := testAddr()
	m, err := New(datastore.Options{
		Manager: "postgresql", Layout: datastore.Layout{Root: dir}, BindHost: addr, Port: 5432,
		IgnoreUsers: []string{"os_admin", "postgres"}, IgnoreDBs: []string{"os_admin", "postgres"},
		Volume: datastore.NewVolume(dir, 0), Log: logrus.NewEntry(logrus.StandardLogger()),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Prepare(context.Background(), datastore.PrepareSpec{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	return m, addr
}

// client runs the real psql client over TCP (SCRAM) and returns its unaligned output.
func client(addr, user, pw, db, sql string) (string, error) {
	return clientPort(addr, 5432, user, pw, db, sql)
}

// clientPort is client on another port.
func clientPort(addr string, port int, user, pw, db, sql string) (string, error) {
	cmd := exec.Command("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", addr, "-p", fmt.Sprint(port), "-U", user, "-d", db, "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pw, "PGCONNECT_TIMEOUT=5")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestPostgreSQLManager(t *testing.T) {
	ctx := context.Background()
	m, addr := start(t)
	if st := m.Status(ctx); st != datastore.Healthy {
		t.Fatalf("status after prepare = %s", st)
	}
	if _, err := client(addr, "os_admin", "", "postgres", "SELECT 1"); err == nil {
		t.Fatal("os_admin logs in over TCP without a password")
	}
	if err := m.CreateDatabases(ctx, []guestapi.Schema{{Name: "app"}, {Name: "b db", CharacterSet: strp("LATIN1"), Collate: strp("C")}, {Name: "zz"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.CreateDatabases(ctx, []guestapi.Schema{{Name: "app"}}); err != nil {
		t.Fatalf("re-create is not idempotent: %v", err)
	}
	pw := "s3cret-Pa55"
	if err := m.CreateUsers(ctx, []guestapi.User{{Name: "appuser", Password: &pw, Databases: []guestapi.Schema{{Name: "app"}}}}); err != nil {
		t.Fatal(err)
	}
	out, err := client(addr, "appuser", pw, "app", "CREATE SCHEMA s; CREATE TABLE s.t (i int); INSERT INTO s.t VALUES (42); SELECT i FROM s.t")
	if err != nil || out != "42" {
		t.Fatalf("appuser on app: %q %v", out, err)
	}
	// PostgreSQL 15 gives no one CREATE on public: a user given the database gets it.
	if out, err := client(addr, "appuser", pw, "app", "CREATE TABLE pub (i int); INSERT INTO pub VALUES (7); SELECT i FROM pub"); err != nil || out != "7" {
		t.Fatalf("appuser creating a table in app's public schema: %q %v", out, err)
	}
	if out, err := client(addr, "appuser", "wrong", "app", "SELECT 1"); err == nil {
		t.Fatalf("wrong password accepted: %q", out)
	}

	limit := 2
	page, err := m.ListDatabases(ctx, guestapi.ListArgs{Limit: &limit})
	if err != nil || len(page.Items) != 2 || page.Items[0].Name != "app" || page.Items[1].Name != "b db" || *page.NextMarker != "b db" {
		t.Fatalf("page 1 = %+v %v", page, err)
	}
	if *page.Items[1].CharacterSet != "LATIN1" {
		t.Fatalf("encoding = %s", *page.Items[1].CharacterSet)
	}
	page, err = m.ListDatabases(ctx, guestapi.ListArgs{Limit: &limit, Marker: strp("b db"), IncludeMarker: true})
	if err != nil || len(page.Items) != 2 || page.Items[0].Name != "b db" || page.NextMarker != nil {
		t.Fatalf("page 2 = %+v %v", page, err)
	}

	if err := m.GrantAccess(ctx, "appuser", "%", []string{"zz"}); err != nil {
		t.Fatal(err)
	}
	if err := m.GrantAccess(ctx, "appuser", "%", []string{"nope"}); datastore.KindOf(err) != datastore.KindDatabaseNotFound {
		t.Fatalf("grant on missing db: %v", err)
	}
	acc, err := m.ListAccess(ctx, "appuser", "%")
	if err != nil || len(acc) != 2 || acc[0].Name != "app" || acc[1].Name != "zz" {
		t.Fatalf("access %+v %v", acc, err)
	}
	if err := m.RevokeAccess(ctx, "appuser", "%", "zz"); err != nil {
		t.Fatal(err)
	}
	users, err := m.ListUsers(ctx, guestapi.ListArgs{})
	if err != nil || len(users.Items) != 1 || users.Items[0].ID() != "appuser@%" || len(users.Items[0].Databases) != 1 {
		t.Fatalf("users %+v %v", users, err)
	}

	newpw := "n3w'Pass\"word"
	if err := m.UpdateAttributes(ctx, "appuser", "%", guestapi.UserAttrs{Name: strp("renamed"), Password: &newpw}); err != nil {
		t.Fatal(err)
	}
	if out, err := client(addr, "renamed", newpw, "app", "SELECT count(*) FROM s.t"); err != nil || out != "1" {
		t.Fatalf("renamed: %q %v", out, err)
	}
	if err := m.ChangePasswords(ctx, []guestapi.PasswordChange{{Name: "renamed", Host: "%", Password: pw}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client(addr, "renamed", pw, "app", "SELECT 1"); err != nil {
		t.Fatal(err)
	}

	// the user owns a schema and table in app: delete keeps the data (reassigned to os_admin)
	if err := m.DeleteUser(ctx, "renamed", "%"); err != nil {
		t.Fatal(err)
	}
	if u, err := m.GetUser(ctx, "renamed", "%"); err != nil || u != nil {
		t.Fatalf("deleted user: %+v %v", u, err)
	}
	if err := m.DeleteDatabase(ctx, guestapi.Schema{Name: "zz"}); err != nil {
		t.Fatal(err)
	}
	page, _ = m.ListDatabases(ctx, guestapi.ListArgs{})
	if len(page.Items) != 2 {
		t.Fatalf("after delete %+v", page.Items)
	}
}

// TestPostgreSQLRootIsRoot: Trove's PostgreSQL root is a superuser login role named root (trove-tempest-plugin
// logs in as root@<address>/postgres with the password enable_root returns); it is not a tenant user.
func TestPostgreSQLRootIsRoot(t *testing.T) {
	ctx := context.Background()
	m, addr := start(t) // ignore_users is Trove's default for postgresql (os_admin, postgres): no root in it
	rootLogin := func(user, pw string) (string, error) {
		return client(addr, user, pw, "postgres", "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = 'root'")
	}
	if on, err := m.IsRootEnabled(ctx); err != nil || on {
		t.Fatalf("is_root_enabled at start: %v %v", on, err)
	}
	pw := "App-Pw-1"
	if err := m.CreateUsers(ctx, []guestapi.User{{Name: "appuser", Password: &pw}}); err != nil {
		t.Fatal(err)
	}

	root, err := m.EnableRoot(ctx, "")
	if err != nil || root.Name != "root" || root.Host != "%" || root.Password == nil || len(*root.Password) != 36 {
		t.Fatalf("enable_root %+v %v", root, err)
	}
	if out, err := rootLogin("root", *root.Password); err != nil || out != "root|t" {
		t.Fatalf("root login over TCP: %q %v", out, err)
	}
	if ok, _ := m.roleExists(ctx, "postgres"); ok {
		t.Fatal("enable_root created a postgres role")
	}
	if on, err := m.IsRootEnabled(ctx); err != nil || !on {
		t.Fatalf("is_root_enabled after enable: %v %v", on, err)
	}

	// root is not a user of the users API: not listed, not found, not creatable, deletable, renamable to
	users, err := m.ListUsers(ctx, guestapi.ListArgs{})
	if err != nil || len(users.Items) != 1 || users.Items[0].Name != "appuser" {
		t.Fatalf("list_users %+v %v", users, err)
	}
	if u, err := m.GetUser(ctx, "root", "%"); err != nil || u != nil {
		t.Fatalf("get_user root: %+v %v", u, err)
	}
	for name, err := range map[string]error{
		"create":          m.CreateUsers(ctx, []guestapi.User{{Name: "root", Password: &pw}}),
		"delete":          m.DeleteUser(ctx, "root", "%"),
		"rename to root":  m.UpdateAttributes(ctx, "appuser", "%", guestapi.UserAttrs{Name: strp("root")}),
		"change password": m.ChangePasswords(ctx, []guestapi.PasswordChange{{Name: "root", Host: "%", Password: pw}}),
		"grant":           m.GrantAccess(ctx, "root", "%", []string{"postgres"}),
	} {
		if datastore.KindOf(err) != datastore.KindBadRequest {
			t.Errorf("%s: err = %v, want BadRequest", name, err)
		}
	}
	if out, err := rootLogin("root", *root.Password); err != nil || out != "root|t" {
		t.Fatalf("root after the refused user calls: %q %v", out, err)
	}

	// enable again with a password: the existing role is reset
	if root, err := m.EnableRoot(ctx, "Root-Pw-2"); err != nil || root.Name != "root" || *root.Password != "Root-Pw-2" {
		t.Fatalf("enable_root_with_password %+v %v", root, err)
	}
	if out, err := rootLogin("root", "Root-Pw-2"); err != nil || out != "root|t" {
		t.Fatalf("root login with the new password: %q %v", out, err)
	}
	if _, err := rootLogin("root", *root.Password); err == nil {
		t.Fatal("the previous root password still works")
	}

	if err := m.DisableRoot(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := rootLogin("root", "Root-Pw-2"); err == nil {
		t.Fatalf("root logs in after disable_root: %q", out)
	}
	if on, err := m.IsRootEnabled(ctx); err != nil || on {
		t.Fatalf("is_root_enabled after disable: %v %v", on, err)
	}
	if err := m.DisableRoot(ctx); err != nil {
		t.Fatalf("disable_root twice: %v", err)
	}
	// enable after disable (trove-tempest-plugin's test_root_disable)
	if _, err := m.EnableRoot(ctx, "Root-Pw-3"); err != nil {
		t.Fatal(err)
	}
	if out, err := rootLogin("root", "Root-Pw-3"); err != nil || out != "root|t" {
		t.Fatalf("root login after re-enable: %q %v", out, err)
	}

	// an older agent enabled root as the postgres role: it counts as root and disable_root locks it too
	if err := m.exec(ctx, "CREATE ROLE postgres WITH LOGIN SUPERUSER PASSWORD 'Legacy-Pw-1'"); err != nil {
		t.Fatal(err)
	}
	if _, err := rootLogin("postgres", "Legacy-Pw-1"); err != nil {
		t.Fatal(err)
	}
	if err := m.DisableRoot(ctx); err != nil {
		t.Fatal(err)
	}
	for user, pw := range map[string]string{"root": "Root-Pw-3", "postgres": "Legacy-Pw-1"} {
		if out, err := rootLogin(user, pw); err == nil {
			t.Errorf("%s logs in after disable_root: %q", user, out)
		}
	}
	if err := m.exec(ctx, "ALTER ROLE postgres WITH LOGIN PASSWORD 'Legacy-Pw-1'"); err != nil {
		t.Fatal(err)
	}
	if on, err := m.IsRootEnabled(ctx); err != nil || !on {
		t.Fatalf("is_root_enabled with a legacy postgres root: %v %v", on, err)
	}
}

func TestPostgreSQLRejectsInjection(t *testing.T) {
	ctx := context.Background()
	m, addr := start(t)
	pw := "pw"
	bad := []struct {
		name string
		err  error
	}{
		{"reserved db", m.CreateDatabases(ctx, []guestapi.Schema{{Name: "postgres"}})},
		{"template", m.CreateDatabases(ctx, []guestapi.Schema{{Name: "template1"}})},
		{"newline", m.CreateDatabases(ctx, []guestapi.Schema{{Name: "a\n\\! touch /tmp/pwned"}})},
		{"encoding", m.CreateDatabases(ctx, []guestapi.Schema{{Name: "ok", CharacterSet: strp("UTF8'; DROP DATABASE postgres; --")}})},
		{"unknown encoding", m.CreateDatabases(ctx, []guestapi.Schema{{Name: "ok", CharacterSet: strp("klingon")}})},
		{"locale of another encoding", m.CreateDatabases(ctx, []guestapi.Schema{{Name: "ok", CharacterSet: strp("LATIN1"), Collate: strp("C.UTF-8")}})},
		{"host", m.CreateUsers(ctx, []guestapi.User{{Name: "u", Host: "10.0.0.1", Password: &pw}})},
		{"reserved user", m.CreateUsers(ctx, []guestapi.User{{Name: "os_admin", Password: &pw}})},
		{"pg_ role", m.CreateUsers(ctx, []guestapi.User{{Name: "pg_monitor", Password: &pw}})},
	}
	for _, b := range bad {
		if datastore.KindOf(b.err) != datastore.KindBadRequest {
			t.Errorf("%s: err = %v, want BadRequest", b.name, b.err)
		}
	}
	// a well-formed locale this host lacks passes the table but fails on the server: the error names it
	err := m.CreateDatabases(ctx, []guestapi.Schema{{Name: "de", Collate: strp("de_DE.utf8")}})
	if err == nil || !strings.Contains(err.Error(), "de_DE.utf8") {
		t.Fatalf("uninstalled locale: %v", err)
	}
	// names that are legal in Trove but hostile are quoted, not executed
	evil := `x"; DROP ROLE os_admin; --`
	evilpw := `p'; ALTER ROLE os_admin PASSWORD 'x'; --`
	if err := m.CreateDatabases(ctx, []guestapi.Schema{{Name: evil}}); err != nil {
		t.Fatal(err)
	}
	if err := m.CreateUsers(ctx, []guestapi.User{{Name: evil, Password: &evilpw, Databases: []guestapi.Schema{{Name: evil}}}}); err != nil {
		t.Fatal(err)
	}
	if out, err := client(addr, evil, evilpw, evil, "SELECT current_database()"); err != nil || out != evil {
		t.Fatalf("evil user on evil db: %q %v", out, err)
	}
	if ok, _ := m.roleExists(ctx, "os_admin"); !ok {
		t.Fatal("os_admin dropped")
	}
	if st := m.Status(ctx); st != datastore.Healthy {
		t.Fatalf("status %s", st)
	}
}

func TestPostgreSQLProcessStates(t *testing.T) {
	ctx := context.Background()
	m, _ := start(t)
	if err := syscall.Kill(m.Proc.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for m.Proc.State() == datastore.Alive {
		time.Sleep(20 * time.Millisecond)
	}
	if st := m.Status(ctx); st != datastore.Crashed {
		t.Fatalf("after SIGKILL: %s", st)
	}
	if err := m.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(ctx); st != datastore.Healthy {
		t.Fatalf("after restart: %s", st)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(ctx); st != datastore.Shutdown {
		t.Fatalf("after stop: %s", st)
	}
}

func TestErrorLinesDropStatement(t *testing.T) {
	stderr := "ERROR:  syntax error at or near \"x\"\nLINE 1: ALTER ROLE \"u\" WITH PASSWORD 'hunter2' x\n                                                   ^\n"
	got := errorLines(stderr)
	if strings.Contains(got, "hunter2") || !strings.Contains(got, "syntax error") {
		t.Fatalf("errorLines = %q", got)
	}
}

// BenchmarkPrepare measures a first prepare (initdb as postgres, start until psql answers) and a stop.
func BenchmarkPrepare(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		for _, d := range []string{filepath.Dir(dir), dir} {
			_ = os.Chmod(d, 0o711)
		}
		m, err := New(datastore.Options{Manager: "postgresql", Layout: datastore.Layout{Root: dir}, BindHost: testAddr(), Port: 5432,
			Volume: datastore.NewVolume(dir, 0), Log: logrus.NewEntry(logrus.StandardLogger())})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Prepare(ctx, datastore.PrepareSpec{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = m.Stop(ctx)
		b.StartTimer()
	}
}
