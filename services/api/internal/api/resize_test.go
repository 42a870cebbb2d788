package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// finishAccess plays the taskmanager's update_access flow in these tests (nil: the cast only).
var finishAccess func(id string)

func (m *recordingTM) ResizeFlavor(_ context.Context, rc rpc.Context, a taskapi.ResizeFlavorArgs) error {
	return m.record(taskapi.MethodResizeFlavor, rc, a)
}

func (m *recordingTM) UpdateAccess(_ context.Context, rc rpc.Context, a taskapi.UpdateAccessArgs) error {
	if err := m.record(taskapi.MethodUpdateAccess, rc, a); err != nil {
		return err
	}
	if finishAccess != nil {
		finishAccess(a.InstanceID)
	}
	return nil
}

func TestResizeFlavor(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Quotas.RAM = 1500 }) // max_ram_per_tenant
	p := "/v1.0/" + projDemo + "/instances/"
	id := e.createInstance("demo", "rs") // flavor 1: 512 MB
	act := p + id + "/action"
	if r := e.do("demo", "POST", act, `{"resize": {"flavorRef": "2"}}`); r.Code != 422 || r.faultName() != "unprocessableEntity" {
		t.Fatalf("resize while building: %d %s", r.Code, r.Raw)
	}
	e.markActive(id)
	cases := []struct {
		token, path, body, fault, msg string
		code                          int
	}{
		{"demo", act, `{"resize": {"flavorRef": "1"}}`, "badRequest", "The new flavor id must be different than the current flavor id of '1'.", 400},
		{"demo", act, `{"resize": {"flavorRef": "99"}}`, "badRequest", "Resource 99 cannot be found.", 400},
		{"demo", act, `{"resize": {"flavorRef": ""}}`, "badRequest", "Validation error", 400},
		{"demo", act, `{"resize": {"flavorRef": "2", "volume": {"size": 2}}}`, "badRequest", "", 400},
		{"reader", act, `{"resize": {"flavorRef": "2"}}`, "forbidden", "", 403},
		{"demo2", "/v1.0/" + projDemo2 + "/instances/" + id + "/action", `{"resize": {"flavorRef": "2"}}`, "itemNotFound", "", 404},
	}
	for _, c := range cases {
		r := e.do(c.token, "POST", c.path, c.body)
		if r.Code != c.code || r.faultName() != c.fault || !strings.Contains(r.faultMessage(), c.msg) {
			t.Errorf("%s %s: %d %s", c.token, c.body, r.Code, r.Raw)
		}
	}
	// A second instance holds 512 MB more: 512 + 512 + (1024 − 512) > 1500 → Trove's quota fault, nothing changes.
	id2 := e.createInstance("demo", "rs2")
	e.markActive(id2)
	if r := e.do("demo", "POST", act, `{"resize": {"flavorRef": "2"}}`); r.Code != 413 || r.faultName() != "overLimit" ||
		!strings.Contains(r.faultMessage(), "Quota exceeded for resources: ['ram']") {
		t.Fatalf("resize over the RAM quota: %d %s", r.Code, r.Raw)
	}
	if row, _ := e.db.GetInstance(context.Background(), id); row.Task() != status.TaskNone {
		t.Fatalf("task after a refused resize: %v", row.Task())
	}
	if n := e.count("SELECT in_use FROM quota_usages WHERE tenant_id = ? AND resource = 'ram'", projDemo); n != 1024 {
		t.Fatalf("ram in use %d after a refused resize, want 1024", n)
	}
	if m := strings.Join(e.tm.methods(), ","); m != "create_instance,create_instance" {
		t.Fatalf("casts after refused resizes: %s", m)
	}
	// Downsizing the other instance to 256 MB makes room: 256 + 1024 ≤ 1500.
	if r := e.do("demo", "POST", p+id2+"/action", `{"resize": {"flavorRef": "07"}}`); r.Code != 202 {
		t.Fatalf("downsize: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "POST", act, `{"resize": {"flavorRef": "https://x/v1.0/p/flavors/2"}}`); r.Code != 202 || r.Raw != "" {
		t.Fatalf("resize: %d %s", r.Code, r.Raw)
	}
	if n := e.count("SELECT in_use FROM quota_usages WHERE tenant_id = ? AND resource = 'ram'", projDemo); n != 256+1024 {
		t.Errorf("ram in use %d after both resizes, want %d", n, 256+1024)
	}
	r := e.do("demo", "GET", p+id, nil)
	if r.Body["instance"].(map[string]any)["status"] != "RESIZE" {
		t.Errorf("status after resize %s", r.Raw)
	}
	if r := e.do("demo", "POST", act, `{"resize": {"flavorRef": "07"}}`); r.Code != 422 {
		t.Errorf("resize while resizing: %d %s", r.Code, r.Raw)
	}
	last := e.tm.calls[len(e.tm.calls)-1]
	args := last.Args.(taskapi.ResizeFlavorArgs)
	if last.Method != taskapi.MethodResizeFlavor || args.InstanceID != id || args.OldFlavor.ID != "1" || args.OldFlavor.RAM != 512 ||
		args.NewFlavor.ID != "2" || args.NewFlavor.RAM != 1024 {
		t.Errorf("resize_flavor cast %s %+v", last.Method, args)
	}
}

func TestUpdateAccess(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := "/v1.0/" + projDemo + "/instances/"
	finishAccess = func(id string) {
		if _, err := e.db.SetTaskIf(ctx, id, status.TaskUpdating, status.TaskNone); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { finishAccess = nil })

	// At create: CIDRs are canonical, a pattern-valid non-address is Trove's 400, never a 500.
	body := func(cidrs string) string {
		return `{"instance": {"name": "a", "flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "mysql", "version": "8.0"},
			"access": {"is_public": true, "allowed_cidrs": ` + cidrs + `}}}`
	}
	for _, bad := range []string{`["999.0.0.1/32"]`, `["10.0.0.1/33"]`, `["x"]`, `["10.0.0.1/8", "10.0.0.1/8"]`, `"10.0.0.1"`} {
		if r := e.do("demo", "POST", p[:len(p)-1], body(bad)); r.Code != 400 || r.faultName() != "badRequest" {
			t.Errorf("create with allowed_cidrs %s: %d %s", bad, r.Code, r.Raw)
		}
	}
	r := e.do("demo", "POST", p[:len(p)-1], body(`["10.1.2.3/8", "127.0.0.5"]`))
	if r.Code != 200 {
		t.Fatalf("create with access: %d %s", r.Code, r.Raw)
	}
	id := r.Body["instance"].(map[string]any)["id"].(string)
	want := map[string]any{"is_public": true, "allowed_cidrs": []any{"10.0.0.0/8", "127.0.0.5/32"}}
	if got := r.Body["instance"].(map[string]any)["access"]; !jsonEqual(got, want) {
		t.Errorf("access at create %v, want %v", got, want)
	}
	create := e.tm.calls[len(e.tm.calls)-1].Args.(taskapi.CreateInstanceArgs)
	if create.Access == nil || !create.Access.IsPublic || strings.Join(create.Access.AllowedCIDRs, ",") != "10.0.0.0/8,127.0.0.5/32" {
		t.Errorf("create_instance access %+v", create.Access)
	}

	// While building: 422, nothing recorded.
	upd := `{"instance": {"access": {"is_public": false, "allowed_cidrs": ["127.0.0.9/32"]}}}`
	if r := e.do("demo", "PUT", p+id, upd); r.Code != 422 {
		t.Errorf("access update while building: %d %s", r.Code, r.Raw)
	}
	e.markActive(id)
	for _, c := range []struct {
		token, path, body, fault string
		code                     int
	}{
		{"demo", p + id, `{"instance": {"access": {"allowed_cidrs": ["300.1.1.1/32"]}}}`, "badRequest", 400},
		{"demo", p + id, `{"instance": {"access": {"is_public": "no"}}}`, "badRequest", 400},
		{"demo", p + id, `{"instance": {"access": {"is_public": false}, "configuration": null}}`, "badRequest", 400},
		{"reader", p + id, upd, "forbidden", 403},
		{"demo2", "/v1.0/" + projDemo2 + "/instances/" + id, upd, "itemNotFound", 404},
	} {
		if r := e.do(c.token, "PUT", c.path, c.body); r.Code != c.code || r.faultName() != c.fault {
			t.Errorf("%s PUT %s: %d %s", c.token, c.body, r.Code, r.Raw)
		}
	}
	if m := e.tm.methods(); m[len(m)-1] != taskapi.MethodCreateInstance {
		t.Fatalf("casts after refused updates: %v", m)
	}
	if r := e.do("demo", "PUT", p+id, `{"instance": {"name": "renamed", "access": {"is_public": false, "allowed_cidrs": ["127.0.0.9"]}}}`); r.Code != 202 {
		t.Fatalf("access update: %d %s", r.Code, r.Raw)
	}
	last := e.tm.calls[len(e.tm.calls)-1]
	if a := last.Args.(taskapi.UpdateAccessArgs); last.Method != taskapi.MethodUpdateAccess || a.InstanceID != id || a.Access.IsPublic ||
		strings.Join(a.Access.AllowedCIDRs, ",") != "127.0.0.9/32" {
		t.Errorf("update_access cast %s %+v", last.Method, last.Args)
	}
	r = e.do("demo", "GET", p+id, nil)
	inst := r.Body["instance"].(map[string]any)
	if inst["name"] != "renamed" || !jsonEqual(inst["access"], map[string]any{"is_public": false, "allowed_cidrs": []any{"127.0.0.9/32"}}) ||
		inst["status"] != "ACTIVE" {
		t.Errorf("after the update: %s", r.Raw)
	}
	// PATCH (Trove's edit schema) has no access; an empty block means private and open to everyone (Trove's defaults).
	if r := e.do("demo", "PATCH", p+id, `{"instance": {"access": {}}}`); r.Code != 400 {
		t.Errorf("PATCH access: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "PUT", p+id, `{"instance": {"access": {}}}`); r.Code != 202 {
		t.Fatalf("PUT empty access: %d %s", r.Code, r.Raw)
	}
	if row, _ := e.db.GetInstance(ctx, id); row.Access != `{"is_public":false,"allowed_cidrs":[]}` || row.Task() != status.TaskNone {
		t.Errorf("row after an empty access block: %q %v", row.Access, row.Task())
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
