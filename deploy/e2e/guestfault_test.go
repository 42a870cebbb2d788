package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Issue 12 part 4, no silent failure: a database the guest cannot create after the instance runs (a well-formed
// PostgreSQL locale this host does not have passes the API's checks; only the server refuses it) is answered
// 202 by the API, and within seconds `instance show` has a fault naming the database and the reason; the
// instance stays ACTIVE and its other databases work.
func TestFailedDatabaseCreateIsAFault(t *testing.T) {
	t.Parallel()
	c := demo(t)
	created := c.createInstance("fault1", "--flavor", c.smallFlavor(), "--size", "1", "--datastore", "postgresql",
		"--datastore-version", c.datastoreVersion("postgresql"), "--databases", "app", "--users", "app:secret")
	id := created.ID
	inst := c.waitActive(id, buildTimeout)
	if inst.Fault != "" {
		t.Fatalf("a fresh instance has a fault: %s", inst)
	}

	c.must("database", "db", "create", id, "xdb", "--character_set", "UTF8", "--collate", "de_DE.utf8")
	ok, seen := waitFor(30*time.Second, time.Second, func() (bool, string) {
		i, _ := c.poll(id)
		inst = i
		return strings.Contains(i.Fault, `"xdb"`), i.String()
	})
	if !ok {
		t.Fatalf("no fault naming xdb within 30 s after a database create the guest refused; last seen: %s", seen)
	}
	if !strings.Contains(inst.Fault, "de_DE.utf8") {
		t.Errorf("the fault does not give the reason: %s", inst.Fault)
	}
	if inst.Status != "ACTIVE" {
		t.Errorf("instance %s after a failed database create, want ACTIVE", inst)
	}
	if names := c.names("database", "db", "list", id); slices.Contains(names, "xdb") || !slices.Contains(names, "app") {
		t.Errorf("databases after the failed create: %v", names)
	}
	mustConnect(t, psqlClient, inst.address(), "app", "secret", "app")
}
