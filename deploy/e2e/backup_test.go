package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/testenv"
)

// backupsDir is make run's directory store ([backup_directory] root).
const backupsDir = "/var/lib/trove/backups"

// sqlAs runs statements on an instance as a user through the datastore's own client and returns the output.
func sqlAs(datastore, host, user, password, database, stmt string) (string, error) {
	var cmd *exec.Cmd
	if datastore == "postgresql" {
		cmd = exec.Command("psql", "-h", host, "-U", user, "-d", database, "-w", "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-c", stmt)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10")
	} else {
		cmd = exec.Command("mariadb", "-h", host, "-u", user, "-p"+password, "--connect-timeout=10", "-N", "-B", database, "-e", stmt)
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

type backupRow struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Status     string  `json:"status"`
	ParentID   *string `json:"parent_id"`
	InstanceID string  `json:"instance_id"`
	Size       float64 `json:"size"`
	Location   string  `json:"locationRef"`
}

// waitBackup polls `backup show` until the backup is COMPLETED (fails on FAILED).
func (c *cli) waitBackup(id string) backupRow {
	c.t.Helper()
	var b backupRow
	ok, last := waitFor(3*time.Minute, time.Second, func() (bool, string) {
		c.json(&b, "database", "backup", "show", id)
		if b.Status == "FAILED" {
			c.t.Fatalf("backup %s FAILED", id)
		}
		return b.Status == "COMPLETED", b.Status
	})
	if !ok {
		c.t.Fatalf("backup %s still %s", id, last)
	}
	return b
}

// Issue 14: backups and restore through `openstack database backup …` on make run's deployment (local driver,
// directory store): full, incremental with Trove's implicit parent, each point restored into a new instance
// with exactly the rows written by then; another project cannot see or delete them; deleting the full backup
// takes the incremental with it, objects included.
func TestBackupsThroughCLI(t *testing.T) {
	t.Parallel()
	for _, ds := range []string{"mariadb", "postgresql"} {
		t.Run(ds, func(t *testing.T) {
			t.Parallel()
			testBackups(t, ds)
		})
	}
}

func testBackups(t *testing.T, ds string) {
	c := demo(t)
	version := c.datastoreVersion(ds)
	password := newPassword(t, "Bk")
	create := func(name string, extra ...string) string {
		return c.createInstance(testenv.UniqueName(t, name), append([]string{"--flavor", c.smallFlavor(), "--size", "1",
			"--datastore", ds, "--datastore-version", version}, extra...)...).ID
	}
	src := c.waitActive(create("bksrc", "--databases", "app", "--users", "app:"+password), buildTimeout)
	// root writes the rows (PostgreSQL 15 gives a database's users no CREATE on its public schema); the
	// restored instances carry the source's accounts, root included.
	var root struct {
		Password string `json:"password"`
	}
	c.json(&root, "database", "root", "enable", src.ID)
	remember(root.Password)
	run := func(inst instance, stmt string) string {
		t.Helper()
		var out string
		var err error
		ok, _ := waitFor(30*time.Second, time.Second, func() (bool, string) {
			out, err = sqlAs(ds, inst.address(), "root", root.Password, "app", stmt)
			return err == nil, out
		})
		if !ok {
			t.Fatalf("%s on %s: %v\n%s", stmt, inst.ID, err, out)
		}
		return out
	}
	const sum = "SELECT COUNT(*), SUM(n) FROM t"
	run(src, "CREATE TABLE t (n INT)")
	run(src, "INSERT INTO t (n) VALUES (1), (2), (3)")
	atFull := run(src, sum)

	var full backupRow
	c.json(&full, "database", "backup", "create", testenv.UniqueName(t, "full"), "--instance", src.ID, "--description", "first")
	full = c.waitBackup(full.ID)
	if full.InstanceID != src.ID || full.ParentID != nil || full.Size <= 0 {
		t.Fatalf("full backup: %+v", full)
	}
	project := deployment.demo["OS_PROJECT_ID"]
	if project == "" {
		var p struct {
			ID string `json:"id"`
		}
		c.json(&p, "project", "show", deployment.demo["OS_PROJECT_NAME"])
		project = p.ID
	}
	if !strings.HasPrefix(full.Location, "file://"+filepath.Join(backupsDir, project)+"/") {
		t.Fatalf("full backup stored at %s, not in the project's directory", full.Location)
	}
	if src = c.waitStatus(src.ID, time.Minute, "ACTIVE"); src.Status != "ACTIVE" {
		t.Fatalf("instance after backup: %s", src.Status)
	}

	run(src, "INSERT INTO t (n) VALUES (40), (50)")
	atInc := run(src, sum)
	var inc backupRow
	c.json(&inc, "database", "backup", "create", testenv.UniqueName(t, "inc"), "--instance", src.ID, "--incremental")
	inc = c.waitBackup(inc.ID)
	if inc.ParentID == nil || *inc.ParentID != full.ID {
		t.Fatalf("incremental's parent: %v, want %s", inc.ParentID, full.ID)
	}
	run(src, "INSERT INTO t (n) VALUES (1000)") // after the last backup: never restored

	// Another project sees and deletes nothing of these.
	env := map[string]string{}
	for k, v := range deployment.demo {
		env[k] = v
	}
	env["OS_USERNAME"], env["OS_PROJECT_NAME"] = "demo2", "demo2"
	delete(env, "OS_PROJECT_ID")
	other := newCLI(t, env)
	for _, args := range [][]string{{"show", full.ID}, {"delete", full.ID}} {
		// troveclient words the API's 404 as "No backup with a name or ID of … exists."
		if out, err := other.run(append([]string{"database", "backup"}, args...)...); err == nil || !strings.Contains(out, "404") &&
			!strings.Contains(strings.ToLower(out), "not found") && !strings.Contains(out, "No backup with a name or ID") {
			t.Errorf("demo2: backup %s: %v\n%s", args[0], err, out)
		}
	}
	if out := other.must("database", "backup", "list"); strings.Contains(out, full.ID) {
		t.Errorf("demo2 lists demo's backup:\n%s", out)
	}

	// Each point restored into a new instance, side by side.
	var wg sync.WaitGroup
	for _, p := range []struct{ backup, want string }{{full.ID, atFull}, {inc.ID, atInc}} {
		wg.Add(1)
		go func(backup, want string) {
			defer wg.Done()
			r := c.waitActive(create("bkrestore", "--backup", backup), buildTimeout)
			if t.Failed() {
				return
			}
			if got := run(r, sum); got != want {
				t.Errorf("restored %s: %q, written %q", backup, got, want)
			}
			if out, err := sqlAs(ds, r.address(), "app", password, "app", "SELECT 1"); err != nil || out != "1" {
				t.Errorf("the source's user on the instance restored from %s: %v %s", backup, err, out)
			}
			c.deleteInstance(r.ID)
		}(p.backup, p.want)
	}
	wg.Wait()

	// Deleting the full backup deletes the incremental first; the objects go with them.
	c.must("database", "backup", "delete", full.ID)
	for _, b := range []backupRow{inc, full} {
		ok, out := waitFor(time.Minute, time.Second, func() (bool, string) {
			out, err := c.run("database", "backup", "show", b.ID)
			return err != nil, out
		})
		if !ok {
			t.Errorf("backup %s still shown after delete:\n%s", b.ID, out)
		}
		path := strings.TrimPrefix(b.Location, "file://")
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("object of %s still on disk: %v", b.ID, err)
		}
	}
	if out := c.must("database", "backup", "list", "--instance", src.ID); strings.Contains(out, full.ID) || strings.Contains(out, inc.ID) {
		t.Errorf("deleted backups listed:\n%s", out)
	}
}
