package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/testenv"
)

// guestLog is a log as `openstack database log show|set -f json` prints it (Trove's log dict).
type guestLog struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Published int64  `json:"published"`
	Pending   int64  `json:"pending"`
	Container string `json:"container"`
	Prefix    string `json:"prefix"`
	Metafile  string `json:"metafile"`
}

// Issue 17: guest logs through `openstack database log …` on make run's deployment (local driver, directory
// store): a user lists the USER logs only, enables the slow-query log, publishes it after a slow query (the
// objects under the project's directory hold the query), cannot see the SYS error log, another project cannot
// reach the instance's logs, and discard removes the objects.
func TestGuestLogsThroughCLI(t *testing.T) {
	t.Parallel()
	c := demo(t)
	const ds = "mariadb"
	inst := c.waitActive(c.createInstance(testenv.UniqueName(t, "logs"), "--flavor", c.smallFlavor(), "--size", "1",
		"--datastore", ds, "--datastore-version", c.datastoreVersion(ds)).ID, buildTimeout)

	var list []struct {
		Name string `json:"Name"`
		Type string `json:"Type"`
	}
	c.json(&list, "database", "log", "list", inst.ID)
	var names []string
	for _, l := range list {
		names = append(names, l.Name+":"+l.Type)
	}
	if got := strings.Join(names, ","); got != "general:USER,slow_query:USER" {
		t.Fatalf("log list as a user: %s", got)
	}
	if out, err := c.run("database", "log", "show", inst.ID, "error"); err == nil || !strings.Contains(out, "You must be admin") {
		t.Fatalf("a user showing the error log: %v\n%s", err, out)
	}
	if out, err := c.run("database", "log", "show", inst.ID, "nosuch"); err == nil || !strings.Contains(out, "is not defined") {
		t.Fatalf("an unknown log: %v\n%s", err, out)
	}

	var l guestLog
	c.json(&l, "database", "log", "set", inst.ID, "slow_query", "--enable")
	if l.Name != "slow_query" || l.Type != "USER" || l.Status == "Disabled" {
		t.Fatalf("after enable: %+v", l)
	}
	var root struct {
		Password string `json:"password"`
	}
	c.json(&root, "database", "root", "enable", inst.ID)
	remember(root.Password)
	ok, out := waitFor(30*time.Second, time.Second, func() (bool, string) {
		out, err := sqlAs(ds, inst.address(), "root", root.Password, "mysql", "SELECT SLEEP(1.5) AS e2e_slow_query")
		return err == nil, out
	})
	if !ok {
		t.Fatalf("slow query: %s", out)
	}
	c.json(&l, "database", "log", "set", inst.ID, "slow_query", "--publish")
	if l.Status != "Published" || l.Published <= 0 || l.Container != "database_logs" || !strings.HasPrefix(l.Prefix, inst.ID+".") {
		t.Fatalf("after publish: %+v", l)
	}
	project := deployment.demo["OS_PROJECT_ID"]
	if project == "" {
		var p struct {
			ID string `json:"id"`
		}
		c.json(&p, "project", "show", deployment.demo["OS_PROJECT_NAME"])
		project = p.ID
	}
	objects, err := filepath.Glob(filepath.Join(backupsDir, project, l.Prefix+"log-*"))
	if err != nil || len(objects) == 0 {
		t.Fatalf("no published objects %s* in %s: %v", l.Prefix, filepath.Join(backupsDir, project), err)
	}
	var content strings.Builder
	for _, o := range objects {
		b, err := os.ReadFile(o)
		if err != nil {
			t.Fatal(err)
		}
		content.Write(b)
	}
	if !strings.Contains(content.String(), "e2e_slow_query") {
		t.Fatalf("the published slow-query log lacks the query:\n%s", content.String())
	}

	// Another project does not find the instance.
	env := map[string]string{}
	for k, v := range deployment.demo {
		env[k] = v
	}
	env["OS_USERNAME"], env["OS_PROJECT_NAME"] = "demo2", "demo2"
	if out, err := newCLI(t, env).run("database", "log", "list", inst.ID); err == nil {
		t.Fatalf("another project listed the logs:\n%s", out)
	}

	c.json(&l, "database", "log", "set", inst.ID, "slow_query", "--discard", "--disable")
	if l.Published != 0 || l.Status != "Disabled" {
		t.Fatalf("after discard: %+v", l)
	}
	if left, _ := filepath.Glob(filepath.Join(backupsDir, project, inst.ID+".*")); len(left) != 0 {
		t.Fatalf("objects left after discard: %v", left)
	}
}
