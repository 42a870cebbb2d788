package api

import (
	"strings"
	"testing"
)

func TestInstanceActions(t *testing.T) {
	e := newEnv(t)
	p := "/v1.0/" + projDemo + "/instances/"
	id := e.createInstance("demo", "act")
	act := p + id + "/action"

	// While building, actions are refused with Trove's 422.
	r := e.do("demo", "POST", act, `{"restart": {}}`)
	if r.Code != 422 || !strings.Contains(r.faultMessage(), "is not currently available for an action to be performed (instance status was BUILD)") {
		t.Fatalf("restart while building: %d %s", r.Code, r.Raw)
	}
	e.markActive(id)
	cases := []struct {
		token, body, fault string
		code               int
	}{
		{"demo", `{"resize": {"volume": {"size": 1}}}`, "badRequest", 400}, // not larger
		{"demo", `{"resize": {"volume": {"size": 11}}}`, "overLimit", 413}, // over max_accepted_volume_size
		{"demo", `{"resize": {"volume": {"size": 0}}}`, "badRequest", 400}, // schema
		{"demo", `{"resize": {"flavorRef": "1"}}`, "badRequest", 400},      // same flavor
		{"demo", `{"resize": {"flavorRef": "99"}}`, "badRequest", 400},     // unknown flavor
		{"demo", `{"promote_to_replica_source": {}}`, "badRequest", 400},   // not a replica
		{"demo", `{"eject_replica_source": {}}`, "badRequest", 400},        // no replicas
		{"demo", `{"stop": {}}`, "badRequest", 400},                        // unknown (Trove 500s)
		{"demo", `{"reset_status": {}}`, "forbidden", 403},                 // admin rule
		{"reader", `{"restart": {}}`, "forbidden", 403},                    // reader
		{"demo2", `{"restart": {}}`, "", 403},                              // other project in path
	}
	for _, c := range cases {
		r := e.do(c.token, "POST", act, c.body)
		if r.Code != c.code || (c.fault != "" && r.faultName() != c.fault) {
			t.Errorf("%s %s: %d %s", c.token, c.body, r.Code, r.Raw)
		}
	}
	if r := e.do("demo2", "POST", "/v1.0/"+projDemo2+"/instances/"+id+"/action", `{"restart": {}}`); r.Code != 404 {
		t.Errorf("other tenant's restart: %d", r.Code)
	}
	if m := e.tm.methods(); len(m) != 1 {
		t.Fatalf("casts after refused actions: %v", m)
	}

	if r := e.do("demo", "POST", act, `{"resize": {"volume": {"size": 3}}}`); r.Code != 202 || r.Raw != "" {
		t.Fatalf("resize volume: %d %s", r.Code, r.Raw)
	}
	if n := e.count("SELECT in_use FROM quota_usages WHERE tenant_id = ? AND resource = 'volumes'", projDemo); n != 3 {
		t.Errorf("volumes in use %d after resize to 3", n)
	}
	r = e.do("demo", "GET", p+id, nil)
	if r.Body["instance"].(map[string]any)["status"] != "RESIZE" {
		t.Errorf("status after resize %s", r.Raw)
	}
	// A second action while resizing is refused.
	if r := e.do("demo", "POST", act, `{"restart": {}}`); r.Code != 422 {
		t.Errorf("restart while resizing: %d", r.Code)
	}
	// Admin reset puts it back to NONE / UNKNOWN.
	if r := e.do("admin", "POST", "/v1.0/"+projAdmin+"/instances/"+id+"/action", `{"reset_status": {}}`); r.Code != 202 {
		t.Fatalf("reset_status: %d %s", r.Code, r.Raw)
	}
	e.markActive(id)
	if r := e.do("demo", "POST", act, `{"restart": {}}`); r.Code != 202 {
		t.Fatalf("restart: %d %s", r.Code, r.Raw)
	}
	r = e.do("demo", "GET", p+id, nil)
	if r.Body["instance"].(map[string]any)["status"] != "REBOOT" {
		t.Errorf("status after restart %s", r.Raw)
	}
	if m := strings.Join(e.tm.methods(), ","); m != "create_instance,resize_volume,restart" {
		t.Errorf("casts %s", m)
	}
	args := e.tm.calls[1].Args.(resizeArgs)
	if args.NewSize != 3 || args.InstanceID != id {
		t.Errorf("resize args %+v", args)
	}
}
