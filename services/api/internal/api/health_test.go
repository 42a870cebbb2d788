package api

import (
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
)

// The database health a guest reported (instance_health) is in an admin's instance show, not the project's;
// replication_lag_seconds only when the guest reported one; no key before any report.
func TestInstanceShowHealthForAdmins(t *testing.T) {
	e := newEnv(t)
	id := e.createInstance("demo", "db-h")
	e.markActive(id)
	admin := "/v1.0/" + projAdmin + "/instances/" + id
	if r := e.do("admin", "GET", admin, nil); r.Code != 200 || strings.Contains(r.Raw, `"health"`) {
		t.Fatalf("before any report: %d %s", r.Code, r.Raw)
	}
	lag := 1.25
	if err := e.db.SetHealth(t.Context(), catalog.Health{InstanceID: id, Up: true, Connections: 3, ReplicationLag: &lag}); err != nil {
		t.Fatal(err)
	}
	r := e.do("admin", "GET", admin, nil)
	h, _ := r.Body["instance"].(map[string]any)["health"].(map[string]any)
	if r.Code != 200 || h["up"] != true || h["connections"] != float64(3) || h["replication_lag_seconds"] != 1.25 || h["updated"] == "" {
		t.Fatalf("admin's show: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", "/v1.0/"+projDemo+"/instances/"+id, nil); r.Code != 200 || strings.Contains(r.Raw, `"health"`) {
		t.Fatalf("the project's show: %d %s", r.Code, r.Raw)
	}
	if err := e.db.SetHealth(t.Context(), catalog.Health{InstanceID: id, Up: false}); err != nil {
		t.Fatal(err)
	}
	r = e.do("admin", "GET", admin, nil)
	h, _ = r.Body["instance"].(map[string]any)["health"].(map[string]any)
	if h["up"] != false || strings.Contains(r.Raw, "replication_lag_seconds") {
		t.Fatalf("admin's show after a down report: %s", r.Raw)
	}
}
