package api

import (
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
)

func TestConfigurations(t *testing.T) {
	e := newEnv(t)
	if err := e.db.UpsertConfigParams(t.Context(), e.mysql.ID, []catalog.ConfigParam{
		{Name: "max_connections", DataType: "integer", MinSize: "1", MaxSize: "100000", RestartRequired: false},
		{Name: "autocommit", DataType: "boolean"},
		{Name: "long_query_time", DataType: "float"},
		{Name: "sql_mode", DataType: "string"},
		{Name: "repl_password", DataType: "string"},
		{Name: "innodb_buffer_pool_size", DataType: "integer", MinSize: "0", MaxSize: "68719476736", RestartRequired: true},
	}); err != nil {
		t.Fatal(err)
	}
	p := "/v1.0/" + projDemo
	r := e.do("demo", "GET", p+"/datastores/mysql/versions/8.0/parameters", nil)
	if r.Code != 200 || !strings.Contains(r.Raw, `{"name":"max_connections","datastore_version_id":"`+e.mysql.ID+`","restart_required":false,"type":"integer","max":100000,"min":1}`) ||
		!strings.Contains(r.Raw, `{"name":"innodb_buffer_pool_size","datastore_version_id":"`+e.mysql.ID+`","restart_required":true,"type":"integer","max":68719476736,"min":0}`) {
		t.Errorf("parameters: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", p+"/datastores/versions/"+e.mysql.ID+"/parameters/autocommit", nil); r.Code != 200 || !strings.HasPrefix(r.Raw, `{"name":"autocommit"`) {
		t.Errorf("parameter by version: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", p+"/datastores/mysql/versions/8.0/parameters/nope", nil); r.Code != 404 {
		t.Errorf("unknown parameter: %d %s", r.Code, r.Raw)
	}

	r = e.do("demo", "POST", p+"/configurations", `{"configuration": {"name": "tuned", "description": "d", "datastore": {"type": "mysql", "version": "8.0"},
		"values": {"max_connections": 200, "autocommit": false, "long_query_time": 2.5, "sql_mode": "STRICT", "repl_password": "hush"}}}`)
	if r.Code != 200 {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	c := r.Body["configuration"].(map[string]any)
	id := c["id"].(string)
	if !strings.Contains(r.Raw, `"values":{"autocommit":false,"long_query_time":2.5,"max_connections":200,"repl_password":"***","sql_mode":"STRICT"}`) ||
		c["instance_count"] != 0.0 || c["datastore_name"] != "mysql" || c["datastore_version_number"] != "8.0" {
		t.Errorf("create view: %s", r.Raw)
	}
	if n := e.count("SELECT COUNT(*) FROM configuration_parameters WHERE configuration_id = ? AND configuration_key = 'autocommit' AND configuration_value = '0'", id); n != 1 {
		t.Errorf("stored boolean rows: %d", n)
	}
	bad := []struct{ body, fault string }{
		{`{"configuration": {"name": "x", "values": {"nope": 1}, "datastore": {"type": "mysql"}}}`, "unprocessableEntity"},
		{`{"configuration": {"name": "x", "values": {"max_connections": "1"}, "datastore": {"type": "mysql"}}}`, "unprocessableEntity"},
		{`{"configuration": {"name": "x", "values": {"max_connections": 0}, "datastore": {"type": "mysql"}}}`, "unprocessableEntity"},
		{`{"configuration": {"name": "x", "values": {"long_query_time": 2}, "datastore": {"type": "mysql"}}}`, "unprocessableEntity"},
		{`{"configuration": {"name": "x", "values": {"autocommit": 1}, "datastore": {"type": "mysql"}}}`, "unprocessableEntity"},
		{`{"configuration": {"name": "x", "values": {}, "datastore": {"type": "postgresql", "version": "15"}}}`, "unprocessableEntity"},
		{`{"configuration": {"name": "x", "values": {}, "datastore": {"type": "postgresql"}}}`, "badRequest"}, // no default version
		{`{"configuration": {"name": "x", "values": {}, "datastore": {"type": "oracle"}}}`, "itemNotFound"},
		{`{"configuration": {"name": "x"}}`, "badRequest"},
	}
	for _, b := range bad {
		if r := e.do("demo", "POST", p+"/configurations", b.body); r.faultName() != b.fault {
			t.Errorf("%s: %d %s", b.body, r.Code, r.Raw)
		}
	}
	if n := e.count("SELECT COUNT(*) FROM configurations"); n != 1 {
		t.Errorf("%d configurations after refused creates", n)
	}
	// Integer parameters accept JSON true as Python does (bool is an int).
	if r := e.do("demo", "PATCH", p+"/configurations/"+id, `{"configuration": {"values": {"max_connections": true}}}`); r.Code != 200 || r.Raw != "" {
		t.Errorf("patch: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", p+"/configurations/"+id, nil); !strings.Contains(r.Raw, `"max_connections":1`) || !strings.Contains(r.Raw, `"sql_mode":"STRICT"`) {
		t.Errorf("after patch: %s", r.Raw)
	}
	if r := e.do("demo", "PUT", p+"/configurations/"+id, `{"configuration": {"values": {"sql_mode": "ANSI"}, "name": "renamed"}}`); r.Code != 202 {
		t.Errorf("put: %d %s", r.Code, r.Raw)
	}
	r = e.do("demo", "GET", p+"/configurations/"+id, nil)
	if !strings.Contains(r.Raw, `"values":{"sql_mode":"ANSI"}`) || !strings.Contains(r.Raw, `"name":"renamed"`) {
		t.Errorf("after put: %s", r.Raw)
	}
	if r := e.do("demo", "GET", p+"/configurations", nil); r.Code != 200 || !strings.Contains(r.Raw, `"name":"renamed"`) || strings.Contains(r.Raw, `"values"`) {
		t.Errorf("list: %s", r.Raw)
	}
	if r := e.do("demo", "GET", p+"/configurations/"+id+"/instances", nil); r.Raw != `{"instances":[]}` {
		t.Errorf("instances: %s", r.Raw)
	}
	// Other projects see nothing; readers cannot change.
	if r := e.do("demo2", "GET", "/v1.0/"+projDemo2+"/configurations/"+id, nil); r.Code != 404 {
		t.Errorf("other project: %d", r.Code)
	}
	if r := e.do("demo2", "GET", "/v1.0/"+projDemo2+"/configurations", nil); r.Raw != `{"configurations":[]}` {
		t.Errorf("other project's list: %s", r.Raw)
	}
	if r := e.do("reader", "DELETE", p+"/configurations/"+id, nil); r.Code != 403 {
		t.Errorf("reader delete: %d", r.Code)
	}
	if r := e.do("demo", "DELETE", p+"/configurations/"+id, nil); r.Code != 202 {
		t.Errorf("delete: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", p+"/configurations/"+id, nil); r.Code != 404 {
		t.Errorf("after delete: %d", r.Code)
	}
}
