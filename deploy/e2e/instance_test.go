package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/testenv"
)

// Generous deadlines for polling loops: they bound a hang, they do not measure speed (bench-create.sh does).
const (
	buildTimeout  = 5 * time.Minute
	actionTimeout = 3 * time.Minute
)

// Issue 6: the API is served over HTTPS with the CA that run.sh generated; a MariaDB instance is created,
// reached with the real mariadb client and deleted.
func TestMariaDBInstanceOverHTTPS(t *testing.T) {
	t.Parallel()
	c := demo(t)

	// The endpoint the CLI picks: service database, the openrc's region, interface public.
	var endpoints []struct {
		URL string `json:"URL"`
	}
	newCLI(t, deployment.admin).json(&endpoints, "endpoint", "list", "--service", "database", "--interface", "public",
		"--region", deployment.demo["OS_REGION_NAME"])
	if len(endpoints) != 1 {
		t.Fatalf("want one public `database` endpoint in region %q, Keystone has %+v", deployment.demo["OS_REGION_NAME"], endpoints)
	}
	if !strings.HasPrefix(endpoints[0].URL, apiURL+"/") {
		t.Errorf("database endpoint %q is not served at %s", endpoints[0].URL, apiURL)
	}
	// The CLI verifies the server certificate: without the generated CA it must refuse the API.
	if out, err := c.without("OS_CACERT").run("database", "flavor", "list"); err == nil {
		t.Errorf("the CLI accepted the API's certificate without OS_CACERT:\n%s", out)
	} else if !strings.Contains(strings.ToUpper(out), "CERTIFICATE") && !strings.Contains(out, "SSL") {
		t.Errorf("without OS_CACERT the CLI failed for another reason than the certificate:\n%s", out)
	}

	password := newPassword(t, "Https")
	created := c.createInstance(testenv.UniqueName(t, "https"), "--flavor", c.smallFlavor(), "--size", "1",
		"--datastore", "mariadb", "--datastore-version", c.datastoreVersion("mariadb"),
		"--databases", "app", "--users", "app:"+password)
	inst := c.waitActive(created.ID, buildTimeout)
	mustConnect(t, mariadbClient, inst.address(), "app", password, "app")

	c.deleteInstance(created.ID)
	assertInstanceCleanedUp(t, created.ID, mariadbClient, inst.address(), "app", password)
}

// datastoreCase is one datastore of issue 4 and the client a user would reach it with.
type datastoreCase struct {
	datastore string
	client    dbClient
	// revokeDenies: after `user revoke access` the client can no longer open the database. PostgreSQL grants
	// CONNECT to PUBLIC, so there only the user's database list shows the revoke.
	revokeDenies bool
}

var datastoreCases = []datastoreCase{
	{datastore: "mysql", client: mariadbClient, revokeDenies: true},
	{datastore: "postgresql", client: psqlClient},
}

// Issue 4: the instance life cycle through `openstack database …` for each datastore.
func TestInstanceLifecycle(t *testing.T) {
	t.Parallel()
	for _, tc := range datastoreCases {
		t.Run(tc.datastore, func(t *testing.T) {
			t.Parallel()
			testLifecycle(t, tc)
		})
	}
}

func testLifecycle(t *testing.T, tc datastoreCase) {
	c := demo(t)
	created := c.createInstance("m1", "--flavor", c.smallFlavor(), "--size", "1", "--datastore", tc.datastore,
		"--datastore-version", c.datastoreVersion(tc.datastore), "--databases", "app", "--users", "app:secret")
	if created.Status != "BUILD" {
		t.Errorf("instance create returned status %q, want BUILD", created.Status)
	}
	id := created.ID
	inst := c.waitActive(id, buildTimeout)
	host := inst.address()
	mustConnect(t, tc.client, host, "app", "secret", "app")

	// Each step is a subtest so that one failing feature does not hide the state of the others; they run in
	// order on the same instance.
	steps := []struct {
		name string
		run  func(t *testing.T, c *cli)
	}{
		{"databases", func(t *testing.T, c *cli) {
			c.must("database", "db", "create", id, "extra")
			assertNames(t, c.names("database", "db", "list", id), []string{"app", "extra"}, nil)
			c.must("database", "db", "delete", id, "extra")
			assertNames(t, c.names("database", "db", "list", id), []string{"app"}, []string{"extra"})
		}},
		{"users", func(t *testing.T, c *cli) {
			c.must("database", "db", "create", id, "granted")
			c.must("database", "user", "create", id, "u2", remember("Pass-u2-1"))
			assertNames(t, c.names("database", "user", "list", id), []string{"app", "u2"}, nil)
			c.must("database", "user", "grant", "access", id, "u2", "granted")
			if dbs := c.userDatabases(id, "u2"); !slices.Contains(dbs, "granted") {
				t.Errorf("after grant access, user show u2 lists databases %v, want granted", dbs)
			}
			mustConnect(t, tc.client, host, "u2", remember("Pass-u2-1"), "granted")
			c.must("database", "user", "revoke", "access", id, "u2", "granted")
			if dbs := c.userDatabases(id, "u2"); slices.Contains(dbs, "granted") {
				t.Errorf("after revoke access, user show u2 still lists database granted: %v", dbs)
			}
			if tc.revokeDenies {
				mustNotConnect(t, tc.client, host, "u2", remember("Pass-u2-1"), "granted")
			}
			c.must("database", "user", "update", "attributes", id, "u2", "--new_password", remember("Pass-u2-2"))
			mustConnect(t, tc.client, host, "u2", remember("Pass-u2-2"), "")
			if out, err := tc.client(host, "u2", remember("Pass-u2-1"), ""); err == nil {
				t.Errorf("the old password of u2 still works after update attributes: %s", out)
			}
			c.must("database", "user", "update", "attributes", id, "u2", "--new_name", "u3")
			assertNames(t, c.names("database", "user", "list", id), []string{"app", "u3"}, []string{"u2"})
			c.must("database", "user", "delete", id, "u3")
			assertNames(t, c.names("database", "user", "list", id), []string{"app"}, []string{"u3"})
			mustNotConnect(t, tc.client, host, "u3", remember("Pass-u2-2"), "")
		}},
		{"root", func(t *testing.T, c *cli) {
			var root struct {
				Name     string `json:"name"`
				Password string `json:"password"`
			}
			c.json(&root, "database", "root", "enable", id)
			if root.Name == "" || root.Password == "" {
				t.Fatalf("root enable returned no credentials (name %q)", root.Name)
			}
			remember(root.Password)
			var rootShow struct {
				Enabled bool `json:"is_root_enabled"`
			}
			c.json(&rootShow, "database", "root", "show", id)
			if !rootShow.Enabled {
				t.Errorf("root show: is_root_enabled = false after root enable")
			}
			mustConnect(t, tc.client, host, root.Name, root.Password, "")
		}},
		{"restart", func(t *testing.T, c *cli) {
			// The database server is a new process afterwards and the data is still there.
			before := datastoreServerPID(id)
			if before == 0 {
				t.Fatalf("no database server process found for instance %s", id)
			}
			c.must("database", "instance", "restart", id)
			c.waitActive(id, actionTimeout)
			mustConnect(t, tc.client, host, "app", "secret", "app")
			if after := datastoreServerPID(id); after == before || after == 0 {
				t.Errorf("instance restart: database server pid %d before, %d after; want a new process", before, after)
			}
		}},
		{"resize volume", func(t *testing.T, c *cli) {
			c.must("database", "instance", "resize", "volume", id, "2")
			ok, last := waitFor(actionTimeout, time.Second, func() (bool, string) {
				i, _ := c.poll(id)
				return i.Status == "ACTIVE" && i.volumeSize() == "2", i.String()
			})
			if !ok {
				t.Fatalf("instance resize volume to 2 GB: last seen %s", last)
			}
			mustConnect(t, tc.client, host, "app", "secret", "app")
		}},
		{"server killed", func(t *testing.T, c *cli) { testServerKilled(t, c, tc, id, host) }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) { st.run(t, demo(t)) })
	}

	c.deleteInstance(id)
	assertInstanceCleanedUp(t, id, tc.client, host, "app", "secret")
}

// testServerKilled: the database server dies; the guest reports it within the heartbeat expiry, and
// `instance restart` brings it back.
func testServerKilled(t *testing.T, c *cli, tc datastoreCase, id, host string) {
	t.Helper()
	pid := datastoreServerPID(id)
	if pid == 0 {
		t.Fatalf("no database server process found for instance %s", id)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -KILL %d: %v", pid, err)
	}
	expiry := heartbeatExpiry(t)
	ok, last := waitFor(expiry, time.Second, func() (bool, string) {
		i, _ := c.poll(id)
		return i.Status == "SHUTDOWN" || i.OperatingStatus == "SHUTDOWN", i.String()
	})
	if !ok {
		t.Fatalf("database server (pid %d) killed: instance not SHUTDOWN within the heartbeat expiry (%s); last seen %s",
			pid, expiry, last)
	}
	c.must("database", "instance", "restart", id)
	c.waitActive(id, actionTimeout)
	mustConnect(t, tc.client, host, "app", "secret", "app")
}

// assertInstanceCleanedUp checks what a deleted instance must leave behind: nothing — no server answering on
// its address, no instance directory.
func assertInstanceCleanedUp(t *testing.T, id string, client dbClient, host, user, password string) {
	t.Helper()
	if out, err := client(host, user, password, ""); err == nil {
		t.Errorf("deleted instance %s: its database server still answers on %s: %s", id, host, out)
	}
	if pid := datastoreServerPID(id); pid != 0 {
		t.Errorf("deleted instance %s: database server process %d still runs", id, pid)
	}
	dir := filepath.Join(instancesDir, id)
	if ok, _ := waitFor(30*time.Second, time.Second, func() (bool, string) {
		_, err := os.Stat(dir)
		return os.IsNotExist(err), ""
	}); !ok {
		t.Errorf("deleted instance %s: %s still exists", id, dir)
	}
}

// heartbeatExpiry is [DEFAULT] agent_heartbeat_expiry of /etc/trove/trove.conf (Trove's default 90 s).
func heartbeatExpiry(t *testing.T) time.Duration {
	t.Helper()
	f, err := config.LoadFiles(filepath.Join(etcDir, "trove.conf"))
	if err != nil {
		t.Fatalf("reading trove.conf: %v", err)
	}
	return f.Seconds("DEFAULT", "agent_heartbeat_expiry", 90)
}

// names returns the "Name" column of a `-f json` list.
func (c *cli) names(args ...string) []string {
	c.t.Helper()
	var rows []struct {
		Name string `json:"Name"`
	}
	c.json(&rows, args...)
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.Name)
	}
	return out
}

// userDatabases returns the database names of `user show`.
func (c *cli) userDatabases(instanceID, user string) []string {
	c.t.Helper()
	var show struct {
		Name      string `json:"name"`
		Databases any    `json:"databases"`
	}
	c.json(&show, "database", "user", "show", instanceID, user)
	if show.Name != user {
		c.t.Fatalf("user show %s returned user %q", user, show.Name)
	}
	var out []string
	switch v := show.Databases.(type) {
	case []any:
		for _, d := range v {
			switch d := d.(type) {
			case map[string]any:
				if s, ok := d["name"].(string); ok {
					out = append(out, s)
				}
			case string:
				out = append(out, d)
			}
		}
	case string:
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// assertNames checks that every name of want is in got and none of absent is.
func assertNames(t *testing.T, got, want, absent []string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("list %v lacks %q", got, w)
		}
	}
	for _, a := range absent {
		if slices.Contains(got, a) {
			t.Errorf("list %v still holds %q", got, a)
		}
	}
}
