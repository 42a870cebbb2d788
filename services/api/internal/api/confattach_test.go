package api

import (
	"context"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// finishOverrides plays the taskmanager's update_overrides flow in these tests (nil: the cast only).
var finishOverrides func(id string)

func (m *recordingTM) UpdateOverrides(_ context.Context, rc rpc.Context, a taskapi.UpdateOverridesArgs) error {
	if err := m.record(taskapi.MethodUpdateOverrides, rc, a); err != nil {
		return err
	}
	if finishOverrides != nil {
		finishOverrides(a.InstanceID)
	}
	return nil
}

func TestConfigurationAttachDetach(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.db.UpsertConfigParams(ctx, e.mysql.ID, []catalog.ConfigParam{
		{Name: "max_connections", DataType: "integer", MinSize: "10", MaxSize: "100000"},
		{Name: "innodb_log_buffer_size", DataType: "integer", MinSize: "262144", MaxSize: "18446744073709551615", RestartRequired: true},
		{Name: "long_query_time", DataType: "float", MinSize: "0", MaxSize: "31536000"},
	}); err != nil {
		t.Fatal(err)
	}
	finishOverrides = func(id string) { // the flow: the guest answered, a static value waits for a restart
		if _, err := e.db.SetTaskIf(ctx, id, status.TaskUpdating, status.TaskRestartRequired); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { finishOverrides = nil })
	p := "/v1.0/" + projDemo
	r := e.do("demo", "POST", p+"/configurations", `{"configuration": {"name": "g", "datastore": {"type": "mysql", "version": "8.0"},
		"values": {"max_connections": 555, "innodb_log_buffer_size": 18446744073709551615, "long_query_time": 1e3}}}`)
	if r.Code != 200 {
		t.Fatalf("create group: %d %s", r.Code, r.Raw)
	}
	cid := r.Body["configuration"].(map[string]any)["id"].(string)
	if n := e.count("SELECT COUNT(*) FROM configuration_parameters WHERE configuration_id = ? AND configuration_value IN ('18446744073709551615', '1000.0')", cid); n != 2 {
		t.Errorf("stored exact values: %d", n)
	}

	id := e.createInstance("demo", "db1")
	// not ACTIVE yet (BUILD): Trove's InvalidInstanceState
	if r := e.do("demo", "PUT", p+"/instances/"+id, `{"instance": {"configuration": "`+cid+`"}}`); r.Code != 400 ||
		r.faultMessage() != "The operation you have requested cannot be executed because the instance status is currently: BUILD." {
		t.Errorf("attach while building: %d %s", r.Code, r.Raw)
	}
	e.markActive(id)
	if r := e.do("demo", "PUT", p+"/instances/"+id, `{"instance": {"configuration": "00000000-0000-4000-8000-000000000000"}}`); r.Code != 404 ||
		r.faultMessage() != "Configuration group id: 00000000-0000-4000-8000-000000000000 could not be found." {
		t.Errorf("attach unknown group: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo2", "PUT", "/v1.0/"+projDemo2+"/configurations/"+cid, `{"configuration": {"values": {}}}`); r.Code != 404 {
		t.Errorf("other project's group: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "PUT", p+"/instances/"+id, `{"instance": {"configuration": "`+cid+`"}}`); r.Code != 202 {
		t.Fatalf("attach: %d %s", r.Code, r.Raw)
	}
	if m := e.tm.methods(); m[len(m)-1] != taskapi.MethodUpdateOverrides {
		t.Errorf("casts %v", m)
	}
	r = e.do("demo", "GET", p+"/instances/"+id, nil)
	inst := r.Body["instance"].(map[string]any)
	if inst["status"] != "RESTART_REQUIRED" || inst["configuration"].(map[string]any)["id"] != cid || inst["configuration"].(map[string]any)["name"] != "g" {
		t.Errorf("after attach: %s", r.Raw)
	}
	if r := e.do("demo", "PUT", p+"/instances/"+id, `{"instance": {"configuration": "`+cid+`"}}`); r.Code != 400 ||
		r.faultMessage() != "Instance "+id+" already has a Configuration Group attached: "+cid+"." {
		t.Errorf("attach twice: %d %s", r.Code, r.Raw)
	}
	r = e.do("demo", "GET", p+"/configurations/"+cid+"/instances", nil)
	if r.Code != 200 || !strings.Contains(r.Raw, `"id":"`+id+`"`) {
		t.Errorf("group instances: %s", r.Raw)
	}
	r = e.do("demo", "GET", p+"/instances/"+id+"/configuration", nil)
	if r.Code != 200 || !strings.Contains(r.Raw, `"max_connections":555`) || !strings.Contains(r.Raw, `"innodb_log_buffer_size":18446744073709551615`) ||
		!strings.Contains(r.Raw, `"performance_schema":"OFF"`) {
		t.Errorf("configuration default: %d %s", r.Code, r.Raw)
	}

	// a group change goes to every instance using it; invalid values change nothing
	e.do("demo", "POST", p+"/instances/"+id+"/action", `{"restart": {}}`)
	e.markActive(id)
	id2 := e.createInstance("demo", "db2")
	e.markActive(id2)
	if r := e.do("demo", "PUT", p+"/instances/"+id2, `{"instance": {"configuration": "`+cid+`"}}`); r.Code != 202 {
		t.Fatalf("attach 2: %d %s", r.Code, r.Raw)
	}
	e.markActive(id2)
	for _, c := range []struct{ body, msg string }{
		{`{"max_connections": 9}`, "The value for the configuration parameter max_connections is less than the minimum allowed: 10"},
		{`{"max_connections": 100001}`, "The value for the configuration parameter max_connections is greater than the maximum allowed: 100000"},
		{`{"max_connections": 1.5}`, "The value for the configuration parameter max_connections is not of type integer."},
		{`{"max_connections": "5"}`, "The value provided for the configuration parameter max_connections is not of type integer."},
		{`{"innodb_log_buffer_size": 18446744073709551616}`, "The value for the configuration parameter innodb_log_buffer_size is greater than the maximum allowed: 18446744073709551615"},
		{`{"long_query_time": 5}`, "The value provided for the configuration parameter long_query_time is not of type float."},
		{`{"long_query_time": -0.5}`, "The value for the configuration parameter long_query_time is less than the minimum allowed: 0.0"},
		{`{"long_query_time": 31536000.5}`, "The value for the configuration parameter long_query_time is greater than the maximum allowed: 31536000.0"},
		{`{"nope": 1}`, "The configuration parameter nope is not supported for this datastore: mysql 8.0."},
	} {
		before := len(e.tm.methods())
		r := e.do("demo", "PATCH", p+"/configurations/"+cid, `{"configuration": {"values": `+c.body+`}}`)
		if r.Code != 422 || r.faultMessage() != c.msg && !strings.HasSuffix(c.msg, "not of type integer.") {
			t.Errorf("%s: %d %s", c.body, r.Code, r.Raw)
		}
		if len(e.tm.methods()) != before {
			t.Errorf("%s: casts after a refused change", c.body)
		}
	}
	if n := e.count("SELECT COUNT(*) FROM configuration_parameters WHERE configuration_id = ? AND deleted = 0 AND configuration_value = '555'", cid); n != 1 {
		t.Errorf("refused changes wrote values: %d", n)
	}
	before := len(e.tm.methods())
	if r := e.do("demo", "PATCH", p+"/configurations/"+cid, `{"configuration": {"values": {"max_connections": 666}}}`); r.Code != 200 {
		t.Fatalf("patch: %d %s", r.Code, r.Raw)
	}
	pushed := map[string]bool{}
	e.tm.mu.Lock()
	for _, c := range e.tm.calls[before:] {
		if a, ok := c.Args.(taskapi.UpdateOverridesArgs); ok {
			pushed[a.InstanceID] = true
		}
	}
	e.tm.mu.Unlock()
	if !pushed[id] || !pushed[id2] || len(pushed) != 2 {
		t.Errorf("group change pushed to %v", pushed)
	}
	// a busy instance keeps its task and gets no push
	if err := e.db.SetTask(ctx, id2, status.TaskRebooting); err != nil {
		t.Fatal(err)
	}
	before = len(e.tm.methods())
	if r := e.do("demo", "PATCH", p+"/configurations/"+cid, `{"configuration": {"values": {"max_connections": 667}}}`); r.Code != 200 {
		t.Fatalf("patch: %d %s", r.Code, r.Raw)
	}
	e.tm.mu.Lock()
	for _, c := range e.tm.calls[before:] {
		if a, ok := c.Args.(taskapi.UpdateOverridesArgs); ok && a.InstanceID == id2 {
			t.Error("a rebooting instance was pushed to")
		}
	}
	e.tm.mu.Unlock()
	if row, _ := e.db.GetInstance(ctx, id2); row.Task() != status.TaskRebooting {
		t.Errorf("busy instance's task became %s", row.Task().Action)
	}

	// detach (null, and the empty body on an instance without a group is nothing)
	e.markActive(id)
	if r := e.do("demo", "PUT", p+"/instances/"+id, `{"instance": {"configuration": null}}`); r.Code != 202 {
		t.Fatalf("detach: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", p+"/instances/"+id, nil); strings.Contains(r.Raw, `"configuration"`) {
		t.Errorf("after detach: %s", r.Raw)
	}
	e.markActive(id)
	before = len(e.tm.methods())
	if r := e.do("demo", "PUT", p+"/instances/"+id, `{"instance": {}}`); r.Code != 202 || len(e.tm.methods()) != before {
		t.Errorf("empty body without a group: %d %s", r.Code, r.Raw)
	}
	// create with a group
	r = e.do("demo", "POST", p+"/instances", `{"instance": {"name": "db3", "flavorRef": "1", "volume": {"size": 1},
		"datastore": {"type": "mysql", "version": "8.0"}, "configuration": "`+cid+`"}}`)
	if r.Code != 200 || r.Body["instance"].(map[string]any)["configuration"].(map[string]any)["id"] != cid {
		t.Fatalf("create with group: %d %s", r.Code, r.Raw)
	}
	e.tm.mu.Lock()
	args := e.tm.calls[len(e.tm.calls)-1].Args.(taskapi.CreateInstanceArgs)
	e.tm.mu.Unlock()
	if args.Overrides["max_connections"] == nil {
		t.Errorf("create overrides %v", args.Overrides)
	}
	if r := e.do("demo", "POST", p+"/instances", `{"instance": {"name": "db4", "flavorRef": "1", "volume": {"size": 1},
		"datastore": {"type": "mysql", "version": "8.0"}, "configuration": "00000000-0000-4000-8000-000000000000"}}`); r.Code != 404 {
		t.Errorf("create with unknown group: %d %s", r.Code, r.Raw)
	}
}
