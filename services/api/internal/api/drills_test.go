package api

import (
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
)

// Restore drills: created by the instance's project (strict body, one per instance: a second is 409), listed,
// another project's instance is 404; delete is 202 then 404. Backup show carries the last drill's result for
// the owner (and not before a drill), another project's backup stays 404.
func TestRestoreDrills(t *testing.T) {
	e := newEnv(t)
	id := e.createInstance("demo", "drilled")
	e.markActive(id)
	p := "/v1.0/" + projDemo + "/instances/" + id + "/restore_drills"
	for _, bad := range []string{
		`{}`,
		`{"restore_drill": {}}`,
		`{"restore_drill": {"interval": 3599}}`,
		`{"restore_drill": {"interval": "daily"}}`,
		`{"restore_drill": {"interval": 86400, "backup_id": "x"}}`,
		`{"restore_drill": {"interval": 99999999}}`,
	} {
		if r := e.do("demo", "POST", p, bad); r.Code != 400 || !strings.Contains(r.Raw, "badRequest") {
			t.Fatalf("%s: %d %s", bad, r.Code, r.Raw)
		}
	}
	r := e.do("demo", "POST", p, `{"restore_drill": {"interval": 86400}}`)
	d, _ := r.Body["restore_drill"].(map[string]any)
	if r.Code != 200 || d["interval"] != float64(86400) || d["instance_id"] != id || d["next_run"] == "" || d["last_result"] != nil {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	did := d["id"].(string)
	if r := e.do("demo", "POST", p, `{"restore_drill": {"interval": 3600}}`); r.Code != 409 {
		t.Fatalf("a second drill: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo2", "POST", "/v1.0/"+projDemo2+"/instances/"+id+"/restore_drills", `{"restore_drill": {"interval": 86400}}`); r.Code != 404 {
		t.Fatalf("another project's instance: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo2", "GET", "/v1.0/"+projDemo2+"/instances/"+id+"/restore_drills", nil); r.Code != 404 {
		t.Fatalf("another project's list: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", p, nil); r.Code != 200 || len(r.Body["restore_drills"].([]any)) != 1 {
		t.Fatalf("list: %d %s", r.Code, r.Raw)
	}

	// backup show: no restore_drill before a drill, the result after
	b, err := e.db.CreateBackup(t.Context(), catalog.Backup{Name: "nightly", TenantID: projDemo, InstanceID: id, State: "COMPLETED",
		Size: 0.5, DatastoreVersionID: e.mysql.ID, Location: "file:///x/y"}, catalog.TroveDefaults)
	if err != nil {
		t.Fatal(err)
	}
	bp := "/v1.0/" + projDemo + "/backups/" + b.ID
	if r := e.do("demo", "GET", bp, nil); r.Code != 200 || strings.Contains(r.Raw, "restore_drill") {
		t.Fatalf("backup show before a drill: %d %s", r.Code, r.Raw)
	}
	at := time.Date(2026, 12, 6, 3, 4, 5, 0, time.UTC)
	if err := e.db.RecordDrillResult(t.Context(), catalog.DrillResult{BackupID: b.ID, DrillID: did, Result: catalog.DrillFailed,
		DrilledAt: at, Message: "the restore did not become ACTIVE: backup is corrupt"}); err != nil {
		t.Fatal(err)
	}
	r = e.do("demo", "GET", bp, nil)
	rd, _ := r.Body["backup"].(map[string]any)["restore_drill"].(map[string]any)
	if r.Code != 200 || rd["result"] != "failed" || rd["time"] != "2026-12-06T03:04:05" || !strings.Contains(rd["message"].(string), "corrupt") ||
		!strings.Contains(r.Raw, `"content":{"manifest":null,"checksum":null,"checksum_time":null}`) {
		t.Fatalf("backup show after a drill: %d %s", r.Code, r.Raw)
	}
	// the contents drills check against (ours): the guest's manifest, then the checksum of a passing drill
	manifest := `{"app":["a","b"],"empty":[]}`
	if err := e.db.UpdateBackup(t.Context(), b.ID, catalog.BackupUpdate{ContentManifest: &manifest}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.RecordContentChecksum(t.Context(), b.ID, strings.Repeat("ab", 32), `{"app":{"a":"1","b":"2"}}`, at); err != nil {
		t.Fatal(err)
	}
	if r := e.do("demo", "GET", bp, nil); r.Code != 200 || !strings.Contains(r.Raw, `"content":{"manifest":{"databases":2,"tables":2},"checksum":"`+
		strings.Repeat("ab", 32)+`","checksum_time":"2026-12-06T03:04:05"}`) {
		t.Fatalf("backup show with recorded contents: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo2", "GET", "/v1.0/"+projDemo2+"/backups/"+b.ID, nil); r.Code != 404 {
		t.Fatalf("another project's backup show: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", "/v1.0/"+projDemo+"/backups", nil); r.Code != 200 || strings.Contains(r.Raw, "restore_drill") {
		t.Fatalf("backup list (no drill results): %d %s", r.Code, r.Raw)
	}

	if r := e.do("demo2", "DELETE", "/v1.0/"+projDemo2+"/instances/"+id+"/restore_drills/"+did, nil); r.Code != 404 {
		t.Fatalf("another project's delete: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "DELETE", p+"/"+did, nil); r.Code != 202 {
		t.Fatalf("delete: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "DELETE", p+"/"+did, nil); r.Code != 404 {
		t.Fatalf("delete again: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", p, nil); !strings.Contains(r.Raw, `"restore_drills":[]`) {
		t.Fatalf("after delete: %s", r.Raw)
	}
}
