package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/testenv"
)

// Issue 16: MariaDB replication through `openstack database instance …` on make run's deployment: a replica
// created with --replica-of is seeded from a snapshot of its source and follows it (rows arrive, a user's write is
// refused); show lists replicas / replica_of; promote makes the replica the source (its writes reach the old
// source); detach makes the old source standalone and writable again.
func TestReplicationThroughCLI(t *testing.T) {
	t.Parallel()
	c := demo(t)
	version := c.datastoreVersion("mariadb")
	password := newPassword(t, "Rp")
	src := c.waitActive(c.createInstance(testenv.UniqueName(t, "replsrc"), "--flavor", c.smallFlavor(), "--size", "1",
		"--datastore", "mariadb", "--datastore-version", version, "--databases", "app", "--users", "app:"+password).ID, buildTimeout)
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
			out, err = sqlAs("mariadb", inst.address(), "root", root.Password, "app", stmt)
			return err == nil, out
		})
		if !ok {
			t.Fatalf("%s on %s: %v\n%s", stmt, inst.ID, err, out)
		}
		return out
	}
	// waitRow polls an instance until the row n is there (replication is asynchronous).
	waitRow := func(inst instance, n string) {
		t.Helper()
		if ok, last := waitFor(60*time.Second, time.Second, func() (bool, string) {
			out, err := sqlAs("mariadb", inst.address(), "root", root.Password, "app", "SELECT COUNT(*) FROM t WHERE n = "+n)
			return err == nil && out == "1", out
		}); !ok {
			t.Fatalf("row %s did not reach %s: %s", n, inst.ID, last)
		}
	}
	run(src, "CREATE TABLE t (n INT PRIMARY KEY)")
	run(src, "INSERT INTO t VALUES (1), (2), (3)")

	began := time.Now()
	rep := c.waitActive(c.createInstance(testenv.UniqueName(t, "replica"), "--replica-of", src.ID).ID, buildTimeout)
	t.Logf("replica ACTIVE %s after the create", time.Since(began).Round(time.Second))
	var shown map[string]any
	c.json(&shown, "database", "instance", "show", src.ID)
	if !strings.Contains(strings.Join(strings.Fields(strings.ReplaceAll(toString(shown["replicas"]), ",", " ")), " "), rep.ID) {
		t.Fatalf("the source does not list its replica: %v", shown["replicas"])
	}
	c.json(&shown, "database", "instance", "show", rep.ID)
	if !strings.Contains(toString(shown["replica_of"]), src.ID) {
		t.Fatalf("the replica does not name its source: %v", shown["replica_of"])
	}
	if got := run(rep, "SELECT COUNT(*) FROM t"); got != "3" {
		t.Fatalf("the replica holds %s rows of the snapshot", got)
	}
	run(src, "INSERT INTO t VALUES (10)")
	waitRow(rep, "10")
	if out, err := sqlAs("mariadb", rep.address(), "app", password, "app", "INSERT INTO t VALUES (11)"); err == nil || !strings.Contains(out, "read-only") {
		t.Fatalf("a user's write on the replica: %v %s", err, out)
	}
	if out, err := c.run("database", "instance", "delete", src.ID); err == nil || !strings.Contains(out, "Detach replicas") {
		t.Fatalf("deleting a source with a replica: %v %s", err, out)
	}

	// Promote: the replica becomes the source; its writes reach the old source, which refuses a user's write.
	began = time.Now()
	c.must("database", "instance", "promote", rep.ID)
	rep = c.waitActive(rep.ID, 2*time.Minute)
	src = c.waitActive(src.ID, 2*time.Minute)
	t.Logf("promote: both ACTIVE %s after the request", time.Since(began).Round(time.Second))
	c.json(&shown, "database", "instance", "show", src.ID)
	if !strings.Contains(toString(shown["replica_of"]), rep.ID) {
		t.Fatalf("the old source does not follow the new one: %v", shown["replica_of"])
	}
	run(rep, "INSERT INTO t VALUES (20)")
	waitRow(src, "20")
	if out, err := sqlAs("mariadb", src.address(), "app", password, "app", "INSERT INTO t VALUES (21)"); err == nil || !strings.Contains(out, "read-only") {
		t.Fatalf("a user's write on the old source: %v %s", err, out)
	}

	// Detach the old source: standalone and writable; the new source's writes no longer reach it.
	c.must("database", "instance", "detach", src.ID)
	src = c.waitActive(src.ID, 2*time.Minute)
	if out, err := sqlAs("mariadb", src.address(), "app", password, "app", "INSERT INTO t VALUES (22)"); err != nil {
		t.Fatalf("a user's write on the detached instance: %v %s", err, out)
	}
	run(rep, "INSERT INTO t VALUES (30)")
	time.Sleep(2 * time.Second)
	if got := run(src, "SELECT COUNT(*) FROM t WHERE n = 30"); got != "0" {
		t.Fatalf("the detached instance still follows: %s", got)
	}
}

// toString renders a JSON value the CLI printed (a string, or a list of ids) for a containment check.
func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var parts []string
		for _, e := range x {
			parts = append(parts, toString(e))
		}
		return strings.Join(parts, ",")
	case map[string]any:
		return toString(x["id"])
	}
	return ""
}
