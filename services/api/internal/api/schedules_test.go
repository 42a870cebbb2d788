package api

import (
	"strings"
	"testing"
)

// Backup schedules: created by the instance's project (strict body), listed, shown to admins in instance show
// (not to the project), another project's instance is 404, delete is 202 then 404.
func TestBackupSchedules(t *testing.T) {
	e := newEnv(t)
	id := e.createInstance("demo", "sched")
	e.markActive(id)
	p := "/v1.0/" + projDemo + "/instances/" + id + "/backup_schedules"
	for _, bad := range []string{
		`{}`,
		`{"backup_schedule": {"name": "n", "type": "full", "interval": 59}}`,
		`{"backup_schedule": {"name": "n", "type": "differential", "interval": 3600}}`,
		`{"backup_schedule": {"name": "", "type": "full", "interval": 3600}}`,
		`{"backup_schedule": {"name": "n", "type": "full", "interval": 3600, "keep_count": -1}}`,
		`{"backup_schedule": {"name": "n", "type": "full", "interval": 3600, "cron": "* * * * *"}}`,
	} {
		if r := e.do("demo", "POST", p, bad); r.Code != 400 {
			t.Fatalf("%s: %d %s", bad, r.Code, r.Raw)
		}
	}
	r := e.do("demo", "POST", p, `{"backup_schedule": {"name": "nightly", "type": "incremental", "interval": 86400, "keep_count": 7, "keep_days": 30}}`)
	s, _ := r.Body["backup_schedule"].(map[string]any)
	if r.Code != 200 || s["name"] != "nightly" || s["type"] != "incremental" || s["interval"] != float64(86400) ||
		s["keep_count"] != float64(7) || s["keep_days"] != float64(30) || s["instance_id"] != id || s["next_run"] == "" || s["last_run"] != nil {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	sid := s["id"].(string)
	if r := e.do("demo2", "POST", "/v1.0/"+projDemo2+"/instances/"+id+"/backup_schedules",
		`{"backup_schedule": {"name": "x", "type": "full", "interval": 3600}}`); r.Code != 404 {
		t.Fatalf("another project's instance: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", p, nil); r.Code != 200 || len(r.Body["backup_schedules"].([]any)) != 1 {
		t.Fatalf("list: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", "/v1.0/"+projDemo+"/instances/"+id, nil); r.Code != 200 || strings.Contains(r.Raw, "backup_schedules") {
		t.Fatalf("the project's instance show: %d %s", r.Code, r.Raw)
	}
	r = e.do("admin", "GET", "/v1.0/"+projAdmin+"/instances/"+id, nil)
	if list, _ := r.Body["instance"].(map[string]any)["backup_schedules"].([]any); r.Code != 200 || len(list) != 1 || list[0].(map[string]any)["id"] != sid {
		t.Fatalf("admin's instance show: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo2", "DELETE", "/v1.0/"+projDemo2+"/instances/"+id+"/backup_schedules/"+sid, nil); r.Code != 404 {
		t.Fatalf("another project's delete: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "DELETE", p+"/"+sid, nil); r.Code != 202 {
		t.Fatalf("delete: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "DELETE", p+"/"+sid, nil); r.Code != 404 {
		t.Fatalf("delete again: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", p, nil); !strings.Contains(r.Raw, `"backup_schedules":[]`) {
		t.Fatalf("after delete: %s", r.Raw)
	}
}
