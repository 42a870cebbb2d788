package mysql

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

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// testAddr is a loopback address unique to this test process (127.77.<pid>.<pid>), so parallel packages never
// share a port.
func testAddr() string {
	pid := os.Getpid()
	return fmt.Sprintf("127.77.%d.%d", 1+(pid>>8)%250, 1+pid%250)
}

func strp(s string) *string { return &s }

func start(t *testing.T) (*Manager, string) {
	t.Helper()
	dir := t.TempDir()
	addr := testAddr()
	m, err := New(datastore.Options{
		Manager: "mariadb", Layout: datastore.Layout{Root: dir}, BindHost: addr, Port: 3306,
		IgnoreUsers: []string{"os_admin", "root"}, IgnoreDBs: []string{"mysql", "information_schema", "performance_schema", "sys"},
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

// client runs the real mariadb client over TCP as user/pw and returns its batch output.
func client(addr, user, pw, db, sql string) (string, error) {
	args := []string{"--no-defaults", "-h", addr, "-P", "3306", "-u", user, "-N", "-B", "-e", sql}
	if db != "" {
		args = append(args, "-D", db)
	}
	cmd := exec.Command("mariadb", args...)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+pw)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestMariaDBManager(t *testing.T) {
	ctx := context.Background()
	m, addr := start(t)

	if st := m.Status(ctx); st != datastore.Healthy {
		t.Fatalf("status after prepare = %s", st)
	}
	// the bootstrap left no password-less or remote root
	if _, err := client(addr, "root", "", "", "SELECT 1"); err == nil {
		t.Fatal("root without password can log in over TCP")
	}

	if err := m.CreateDatabases(ctx, []guestapi.Schema{{Name: "app"}, {Name: "db-2", CharacterSet: strp("utf8mb4"), Collate: strp("utf8mb4_bin")}, {Name: "zz"}}); err != nil {
		t.Fatal(err)
	}
	pw := "s3cret-Pa55"
	if err := m.CreateUsers(ctx, []guestapi.User{{Name: "appuser", Host: "%", Password: &pw, Databases: []guestapi.Schema{{Name: "app"}}}}); err != nil {
		t.Fatal(err)
	}
	out, err := client(addr, "appuser", pw, "app", "CREATE TABLE t (i INT); INSERT INTO t VALUES (42); SELECT i FROM t")
	if err != nil || out != "42" {
		t.Fatalf("appuser on app: %q, %v", out, err)
	}
	if out, err := client(addr, "appuser", pw, "zz", "SELECT 1"); err == nil {
		t.Fatalf("appuser reached zz without a grant: %q", out)
	}

	// list pagination
	limit := 2
	page, err := m.ListDatabases(ctx, guestapi.ListArgs{Limit: &limit})
	if err != nil || len(page.Items) != 2 || page.Items[0].Name != "app" || page.NextMarker == nil || *page.NextMarker != "db-2" {
		t.Fatalf("page 1 = %+v, %v", page, err)
	}
	page, err = m.ListDatabases(ctx, guestapi.ListArgs{Limit: &limit, Marker: page.NextMarker})
	if err != nil || len(page.Items) != 1 || page.Items[0].Name != "zz" || page.NextMarker != nil {
		t.Fatalf("page 2 = %+v, %v", page, err)
	}
	if *(page.Items[0].CharacterSet) == "" {
		t.Fatal("character set not reported")
	}

	// grants
	if err := m.GrantAccess(ctx, "appuser", "%", []string{"zz"}); err != nil {
		t.Fatal(err)
	}
	acc, err := m.ListAccess(ctx, "appuser", "%")
	if err != nil || len(acc) != 2 || acc[0].Name != "app" || acc[1].Name != "zz" {
		t.Fatalf("access = %+v, %v", acc, err)
	}
	if err := m.RevokeAccess(ctx, "appuser", "%", "app"); err != nil {
		t.Fatal(err)
	}
	if err := m.RevokeAccess(ctx, "appuser", "%", "app"); datastore.KindOf(err) != datastore.KindDatabaseNotFound {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := client(addr, "appuser", pw, "app", "SELECT 1"); err == nil {
		t.Fatal("revoked access still works")
	}
	users, err := m.ListUsers(ctx, guestapi.ListArgs{})
	if err != nil || len(users.Items) != 1 || users.Items[0].ID() != "appuser@%" || users.Items[0].Databases[0].Name != "zz" {
		t.Fatalf("users = %+v, %v", users, err)
	}

	// update attributes: rename + password
	newpw := "n3w-Pass"
	if err := m.UpdateAttributes(ctx, "appuser", "%", guestapi.UserAttrs{Name: strp("renamed"), Password: &newpw}); err != nil {
		t.Fatal(err)
	}
	if u, err := m.GetUser(ctx, "appuser", "%"); err != nil || u != nil {
		t.Fatalf("old name still there: %+v %v", u, err)
	}
	if out, err := client(addr, "renamed", newpw, "zz", "SELECT 7"); err != nil || out != "7" {
		t.Fatalf("renamed user: %q %v", out, err)
	}
	if err := m.ChangePasswords(ctx, []guestapi.PasswordChange{{Name: "renamed", Host: "%", Password: pw}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client(addr, "renamed", pw, "", "SELECT 1"); err != nil {
		t.Fatalf("changed password: %v", err)
	}
	if err := m.ChangePasswords(ctx, []guestapi.PasswordChange{{Name: "ghost", Host: "%", Password: pw}}); datastore.KindOf(err) != datastore.KindUserNotFound {
		t.Fatalf("ghost: %v", err)
	}

	// root
	if on, err := m.IsRootEnabled(ctx); err != nil || on {
		t.Fatalf("root enabled at start: %v %v", on, err)
	}
	root, err := m.EnableRoot(ctx, "")
	if err != nil || root.Password == nil || len(*root.Password) != 36 || !root.IsRoot {
		t.Fatalf("enable root: %+v %v", root, err)
	}
	if out, err := client(addr, "root", *root.Password, "", "SELECT COUNT(*) FROM mysql.user WHERE User='os_admin'"); err != nil || out != "1" {
		t.Fatalf("root login: %q %v", out, err)
	}
	if on, _ := m.IsRootEnabled(ctx); !on {
		t.Fatal("root not reported enabled")
	}
	if err := m.DisableRoot(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client(addr, "root", *root.Password, "", "SELECT 1"); err == nil {
		t.Fatal("root still logs in after disable")
	}

	// delete
	if err := m.DeleteUser(ctx, "renamed", "%"); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteDatabase(ctx, guestapi.Schema{Name: "zz"}); err != nil {
		t.Fatal(err)
	}
	page, _ = m.ListDatabases(ctx, guestapi.ListArgs{})
	if len(page.Items) != 2 {
		t.Fatalf("after delete: %+v", page.Items)
	}

	stats, err := m.VolumeStats(ctx)
	if err != nil || stats.Used <= 0 || stats.Free <= 0 {
		t.Fatalf("stats %+v %v", stats, err)
	}
}

// Root's file access is confined to <volume>/files (secure_file_priv): nothing else is read or written, and the
// directory itself works for the round trip a tenant may want.
func TestMariaDBSecureFilePriv(t *testing.T) {
	ctx := context.Background()
	m, addr := start(t)
	root, err := m.EnableRoot(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	pw := *root.Password
	files := filepath.Join(m.opts.Layout.Root, "files")
	if out, err := client(addr, "root", pw, "", "SELECT @@GLOBAL.secure_file_priv"); err != nil || strings.TrimRight(out, "/") != files {
		t.Fatalf("secure_file_priv = %q %v, want %s", out, err, files)
	}
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := client(addr, "root", pw, "", "SELECT LOAD_FILE('"+outside+"') IS NULL"); err != nil || out != "1" {
		t.Fatalf("LOAD_FILE outside secure_file_priv: %q %v", out, err)
	}
	for _, target := range []string{filepath.Join(t.TempDir(), "out"), filepath.Join(m.opts.Layout.Data(), "out")} {
		if out, err := client(addr, "root", pw, "", "SELECT 1 INTO OUTFILE '"+target+"'"); err == nil || !strings.Contains(out, "secure-file-priv") {
			t.Fatalf("INTO OUTFILE %s: %q %v", target, out, err)
		}
		if _, err := os.Stat(target); err == nil {
			t.Fatalf("%s was written", target)
		}
	}
	own := filepath.Join(files, "own.txt")
	if out, err := client(addr, "root", pw, "", "SELECT 'mine' INTO OUTFILE '"+own+"'"); err != nil {
		t.Fatalf("INTO OUTFILE inside secure_file_priv: %q %v", out, err)
	}
	if out, err := client(addr, "root", pw, "", "SELECT TRIM(TRAILING '\\n' FROM LOAD_FILE('"+own+"'))"); err != nil || out != "mine" {
		t.Fatalf("LOAD_FILE inside secure_file_priv: %q %v", out, err)
	}
}

func TestMariaDBRejectsInjection(t *testing.T) {
	ctx := context.Background()
	m, _ := start(t)
	pw := "pw"
	bad := []struct {
		name string
		err  error
	}{
		{"db backtick", m.CreateDatabases(ctx, []guestapi.Schema{{Name: "x`; DROP DATABASE mysql; --"}})},
		{"db quote", m.CreateDatabases(ctx, []guestapi.Schema{{Name: "x'y"}})},
		{"reserved db", m.CreateDatabases(ctx, []guestapi.Schema{{Name: "mysql"}})},
		{"charset", m.CreateDatabases(ctx, []guestapi.Schema{{Name: "ok", CharacterSet: strp("utf8; DROP DATABASE mysql")}})},
		{"unknown charset", m.CreateDatabases(ctx, []guestapi.Schema{{Name: "ok", CharacterSet: strp("klingon")}})},
		{"collation of another charset", m.CreateDatabases(ctx, []guestapi.Schema{{Name: "ok", CharacterSet: strp("latin1"), Collate: strp("utf8mb4_bin")}})},
		{"user quote", m.CreateUsers(ctx, []guestapi.User{{Name: "a'@'%' IDENTIFIED BY 'x'; --", Password: &pw}})},
		{"password quote", m.CreateUsers(ctx, []guestapi.User{{Name: "u1", Password: strp("p'); DROP USER os_admin@localhost; --")}})},
		{"host", m.CreateUsers(ctx, []guestapi.User{{Name: "u2", Host: "evil.example", Password: &pw}})},
		{"reserved user", m.CreateUsers(ctx, []guestapi.User{{Name: "os_admin", Password: &pw}})},
		{"grant db", m.GrantAccess(ctx, "u3", "%", []string{"a`.* TO x; --"})},
		{"delete reserved", m.DeleteDatabase(ctx, guestapi.Schema{Name: "mysql"})},
	}
	for _, b := range bad {
		if datastore.KindOf(b.err) != datastore.KindBadRequest {
			t.Errorf("%s: err = %v, want BadRequest", b.name, b.err)
		}
	}
	page, err := m.ListDatabases(ctx, guestapi.ListArgs{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("databases appeared: %+v %v", page.Items, err)
	}
	if ok, _ := m.exists(ctx, adminUser, "localhost"); !ok {
		t.Fatal("os_admin is gone")
	}
}

func TestMariaDBProcessStates(t *testing.T) {
	ctx := context.Background()
	m, addr := start(t)
	pid := m.Proc.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for m.Proc.State() == datastore.Alive { // the reaper records the exit
		time.Sleep(20 * time.Millisecond)
	}
	if st := m.Status(ctx); st != datastore.Crashed {
		t.Fatalf("after SIGKILL status = %s", st)
	}
	if err := m.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(ctx); st != datastore.Healthy {
		t.Fatalf("after restart status = %s", st)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(ctx); st != datastore.Shutdown {
		t.Fatalf("after stop status = %s", st)
	}
	if _, err := client(addr, "x", "y", "", "SELECT 1"); err == nil || !strings.Contains(err.Error(), "exit") {
		t.Fatalf("server still answers: %v", err)
	}
	// a second prepare on the same data directory (agent restart) converges without re-initializing
	if err := m.Prepare(ctx, datastore.PrepareSpec{}); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(ctx); st != datastore.Healthy {
		t.Fatalf("after re-prepare status = %s", st)
	}
}

func TestRedactDropsStatement(t *testing.T) {
	err := redact(&gomysql.MySQLError{Number: 1064, Message: "You have an error in your SQL syntax; check the manual near 'hunter2' at line 1"})
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "1064") {
		t.Fatalf("redact = %v", err)
	}
}

// BenchmarkPrepare measures a first prepare (mariadb-install-db, start, os_admin bootstrap) and a stop.
func BenchmarkPrepare(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		m, err := New(datastore.Options{Manager: "mariadb", Layout: datastore.Layout{Root: dir}, BindHost: testAddr(), Port: 3306,
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
