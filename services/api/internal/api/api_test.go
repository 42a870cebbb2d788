package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/keyring"
)

func TestMiddleware(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, token, method, path string
		code                      int
		check                     func(t *testing.T, r response)
	}{
		{"versions without auth", "", "GET", "/", 200, func(t *testing.T, r response) {
			v := r.Body["versions"].([]any)[0].(map[string]any)
			if v["id"] != "v1.0" || v["status"] != "CURRENT" || !strings.HasSuffix(v["links"].([]any)[0].(map[string]any)["href"].(string), "/v1.0/") {
				t.Errorf("versions body %s", r.Raw)
			}
		}},
		{"healthcheck", "", "GET", "/healthcheck", 200, func(t *testing.T, r response) {
			if r.Raw != "OK" {
				t.Errorf("body %q", r.Raw)
			}
		}},
		{"missing token", "", "GET", "/v1.0/" + projDemo + "/instances", 401, func(t *testing.T, r response) {
			if r.Header.Get("WWW-Authenticate") != `Keystone uri="http://127.0.0.1:5000"` {
				t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
			}
			errObj, _ := r.Body["error"].(map[string]any)
			if errObj["code"] != 401.0 || errObj["title"] != "Unauthorized" {
				t.Errorf("body %s", r.Raw)
			}
		}},
		{"bad token", "nope", "GET", "/v1.0/" + projDemo + "/instances", 401, nil},
		{"bad token on unknown route", "nope", "GET", "/v1.0/" + projDemo + "/nothing-here", 401, nil},
		{"other project in path", "demo", "GET", "/v1.0/" + projDemo2 + "/instances", 403, func(t *testing.T, r response) {
			if r.faultName() != "forbidden" || r.faultMessage() != "User with tenant id "+projDemo+" cannot access this resource." {
				t.Errorf("body %s", r.Raw)
			}
		}},
		{"tenant without trailing path", "demo", "GET", "/v1.0/" + projDemo, 403, nil},
		{"unknown route", "demo", "GET", "/v1.0/" + projDemo + "/nothing-here", 404, func(t *testing.T, r response) {
			if r.faultName() != "itemNotFound" || r.faultMessage() != "The resource could not be found." {
				t.Errorf("body %s", r.Raw)
			}
		}},
		{"method without action is 404", "demo", "PUT", "/v1.0/" + projDemo + "/datastores/mysql", 404, nil},
		{"unrouted mgmt path as non-admin", "demo", "GET", "/v1.0/" + projDemo + "/mgmt/flavors", 401, nil},
		{"unrouted mgmt path as admin", "admin", "GET", "/v1.0/" + projAdmin + "/mgmt/flavors", 404, nil},
		{"mgmt route not built yet as non-admin", "demo", "GET", "/v1.0/" + projDemo + "/mgmt/clusters", 401, nil},
		{"mgmt route not built yet as admin", "admin", "GET", "/v1.0/" + projAdmin + "/mgmt/clusters", 501, nil},
		{"mgmt instances as non-admin", "demo", "GET", "/v1.0/" + projDemo + "/mgmt/instances", 401, nil},
		{"mgmt as non-admin", "demo", "PUT", "/v1.0/" + projDemo + "/mgmt/quotas/" + projDemo, 401, func(t *testing.T, r response) {
			if r.faultName() != "unauthorized" || r.faultMessage() != "User does not have admin privileges." {
				t.Errorf("body %s", r.Raw)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.token, c.method, c.path, nil)
			if r.Code != c.code {
				t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, r.Code, r.Raw, c.code)
			}
			if id := r.Header.Get("X-OpenStack-Request-ID"); !strings.HasPrefix(id, "req-") || len(id) != 40 {
				t.Errorf("X-OpenStack-Request-ID %q", id)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

func TestAcceptVersion(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest("GET", "/"+projDemo+"/flavors", nil)
	req.Header.Set("X-Auth-Token", "demo")
	req.Header.Set("Accept", "application/vnd.openstack.trove+json;version=1.0")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"flavors"`) {
		t.Errorf("Accept version 1.0: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `"href":"https://example.com/v1.0/`+projDemo+`/flavors/1"`) {
		t.Errorf("links after negotiation: %s", rec.Body)
	}
	req = httptest.NewRequest("GET", "/"+projDemo+"/flavors", nil)
	req.Header.Set("X-Auth-Token", "demo")
	req.Header.Set("Accept", "application/vnd.openstack.trove;version=2")
	rec = httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != 406 || rec.Body.String() != `{"notAcceptable":{"code":406,"message":"version not supported"}}` || rec.Header().Get("X-OpenStack-Request-ID") == "" {
		t.Errorf("Accept version 2: %d %s", rec.Code, rec.Body)
	}
}

func TestHealthcheckDisabledByFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "healthcheck_disable")
	e := newEnv(t, func(c *Config) { c.HealthcheckDisableFile = file })
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := e.do("", "GET", "/healthcheck", nil); r.Code != 503 || r.Raw != "DISABLED BY FILE" {
		t.Fatalf("got %d %q", r.Code, r.Raw)
	}
}

func TestDatastoresAndFlavors(t *testing.T) {
	e := newEnv(t)
	p := "/v1.0/" + projDemo
	pa := "/v1.0/" + projAdmin

	r := e.do("demo", "GET", p+"/datastores", nil)
	dss := r.Body["datastores"].([]any)
	if r.Code != 200 || len(dss) != 1 {
		t.Fatalf("non-admin datastores: %d %s", r.Code, r.Raw)
	}
	ds := dss[0].(map[string]any)
	versions := ds["versions"].([]any)
	if ds["name"] != "mysql" || ds["default_version"] != e.mysql.ID || len(versions) != 1 {
		t.Fatalf("mysql datastore %s", r.Raw)
	}
	v := versions[0].(map[string]any)
	if _, ok := v["active"]; ok || v["name"] != "8.0" || v["datastore"] != nil {
		t.Errorf("non-admin version view %v", v)
	}
	link := ds["links"].([]any)[0].(map[string]any)["href"]
	if link != "https://api.test:8779/v1.0/"+projDemo+"/datastores/"+ds["id"].(string) {
		t.Errorf("self link %v", link)
	}

	r = e.do("admin", "GET", pa+"/datastores", nil)
	if len(r.Body["datastores"].([]any)) != 2 || !strings.Contains(r.Raw, `"active":false`) || !strings.Contains(r.Raw, `"image_tags":[]`) {
		t.Errorf("admin datastores %s", r.Raw)
	}

	cases := []struct {
		path, fault string
		code        int
		contains    string
	}{
		{p + "/datastores/mysql", "", 200, `"name":"mysql"`},
		{p + "/datastores/nosuch", "itemNotFound", 404, ""},
		{p + "/datastores/mysql/versions", "", 200, `"name":"8.0"`},
		{p + "/datastores/mysql/versions/8.0", "", 200, `"datastore":"`},
		{p + "/datastores/mysql/versions/" + e.mysql57.ID, "", 200, `"name":"5.7"`},
		{p + "/datastores/mysql/versions/9.9", "badRequest", 400, ""},
		{p + "/datastores/nosuch/versions/8.0", "itemNotFound", 404, ""},
		{p + "/datastores/versions/" + e.mysql.ID, "", 200, `"version":"8.0"`},
		{p + "/datastores/versions/" + "00000000-0000-0000-0000-000000000000", "badRequest", 400, ""},
		{p + "/datastores/mysql/versions/8.0/flavors", "", 200, `"str_id":"2"`},
		{p + "/flavors", "", 200, `{"id":null,"str_id":"07"`},
		{p + "/flavors/2", "", 200, `"flavor":{"id":2,"str_id":"2"`},
		{p + "/flavors/99", "itemNotFound", 404, ""},
		{p + "/limits", "", 200, `{"limits":[{"max_backups":50,"max_instances":10,"max_ram":-1,"max_volumes":40,"verb":"ABSOLUTE"}]}`},
	}
	for _, c := range cases {
		r := e.do("demo", "GET", c.path, nil)
		if r.Code != c.code || r.faultName() != c.fault && c.fault != "" || !strings.Contains(r.Raw, c.contains) {
			t.Errorf("GET %s: %d %s; want %d %s containing %s", c.path, r.Code, r.Raw, c.code, c.fault, c.contains)
		}
	}

	// Flavor metadata restricts the version's flavors.
	if err := e.db.AddVersionMetadata(t.Context(), e.mysql.ID, "flavor", []string{"2"}); err != nil {
		t.Fatal(err)
	}
	r = e.do("demo", "GET", p+"/datastores/mysql/versions/"+e.mysql.ID+"/flavors", nil)
	if fl := r.Body["flavors"].([]any); len(fl) != 1 || fl[0].(map[string]any)["str_id"] != "2" {
		t.Errorf("restricted flavors %s", r.Raw)
	}
}

func TestQuotas(t *testing.T) {
	e := newEnv(t)
	pa := "/v1.0/" + projAdmin
	r := e.do("admin", "PUT", pa+"/mgmt/quotas/"+projDemo, `{"quotas": {"instances": 1, "volumes": null}}`)
	if r.Code != 200 || r.Raw != `{"quotas":{"instances":1}}` {
		t.Fatalf("update: %d %s", r.Code, r.Raw)
	}
	r = e.do("admin", "GET", pa+"/mgmt/quotas/"+projDemo, nil)
	if r.Code != 200 || !strings.Contains(r.Raw, `{"resource":"instances","in_use":0,"reserved":0,"limit":1}`) {
		t.Fatalf("show: %d %s", r.Code, r.Raw)
	}
	// A project may read its own quotas, not another's.
	if r := e.do("demo", "GET", "/v1.0/"+projDemo+"/mgmt/quotas/"+projDemo, nil); r.Code != 200 {
		t.Errorf("own quotas: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", "/v1.0/"+projDemo+"/mgmt/quotas/"+projDemo2, nil); r.Code != 403 || r.faultName() != "forbidden" {
		t.Errorf("other quotas: %d %s", r.Code, r.Raw)
	}
	bad := []struct {
		body, fault string
		code        int
	}{
		{`{"quotas": {"instances": -2}}`, "badRequest", 400},
		{`{"quotas": {"instances": "x"}}`, "badRequest", 400},
		{`{"quotas": {"instances": 5, "cpus": 3}}`, "itemNotFound", 404},
		{`{}`, "badRequest", 400},
		{`{"quotas": {`, "badRequest", 400},
	}
	for _, b := range bad {
		r := e.do("admin", "PUT", pa+"/mgmt/quotas/"+projDemo, b.body)
		if r.Code != b.code || r.faultName() != b.fault {
			t.Errorf("%s: %d %s", b.body, r.Code, r.Raw)
		}
	}
	if n := e.count("SELECT hard_limit FROM quotas WHERE tenant_id = ? AND resource = 'instances'", projDemo); n != 1 {
		t.Errorf("a rejected update changed the limit to %d", n)
	}
	// The limit is enforced on create.
	e.createInstance("demo", "first")
	r = e.do("demo", "POST", "/v1.0/"+projDemo+"/instances", `{"instance": {"name": "second", "flavorRef": 1, "volume": {"size": 1}}}`)
	e.api.cfg.DefaultDatastore = "mysql"
	r = e.do("demo", "POST", "/v1.0/"+projDemo+"/instances", `{"instance": {"name": "second", "flavorRef": 1, "volume": {"size": 1}}}`)
	if r.Code != 413 || r.faultName() != "overLimit" || r.faultMessage() != "Quota exceeded for resources: ['instances']." {
		t.Errorf("over quota: %d %s", r.Code, r.Raw)
	}
	if n := e.count("SELECT COUNT(*) FROM instances WHERE tenant_id = ?", projDemo); n != 1 {
		t.Errorf("%d instances after the refused create", n)
	}
}

func TestCreateInstance(t *testing.T) {
	e := newEnv(t)
	p := "/v1.0/" + projDemo
	r := e.do("demo", "POST", p+"/instances", `{"instance": {"name": "db1", "flavorRef": "https://x/flavors/2",
		"volume": {"size": "2"}, "datastore": {"type": "mysql"}, "databases": [{"name": "app"}],
		"users": [{"name": "appuser", "password": "s3cret", "databases": [{"name": "app"}]}],
		"access": {"is_public": false, "allowed_cidrs": ["10.0.0.0/8"]}, "availability_zone": "nova"}}`)
	if r.Code != 200 {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	inst := r.Body["instance"].(map[string]any)
	id := inst["id"].(string)
	if inst["status"] != "BUILD" || inst["operating_status"] != "" || inst["flavor"].(map[string]any)["id"] != "2" ||
		inst["volume"].(map[string]any)["size"] != 2.0 || inst["datastore"].(map[string]any)["version_number"] != "8.0" {
		t.Errorf("create view %s", r.Raw)
	}
	for _, k := range []string{"server_id", "volume_id", "encrypted_rpc_messaging", "tenant_id", "password"} {
		if _, ok := inst[k]; ok {
			t.Errorf("non-admin create view has %s", k)
		}
	}
	if !strings.Contains(r.Raw, `"access":{"is_public":false,"allowed_cidrs":["10.0.0.0/8"]}`) {
		t.Errorf("access %s", r.Raw)
	}
	if created := inst["created"].(string); len(created) != 19 || strings.ContainsAny(created, "Z+") {
		t.Errorf("created %q is not a naive datetime", created)
	}

	// Rows: task BUILDING, guest status NEW, encrypted key under inst_rpc_key_encr_key, quota used.
	row, err := e.db.GetInstance(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if row.TaskID != 5 || row.FlavorID != "2" || row.VolumeSize != 2 || row.DatastoreVersionID != e.mysql.ID || len(row.EncryptedKey) != 88 {
		t.Errorf("row %+v", row)
	}
	key, err := keyring.Unwrap("emYjgHFqfXNB1NGehAFIUeoyw4V4XwWHEaKP", row.EncryptedKey)
	if err != nil || len(key) != 32 {
		t.Errorf("encrypted key does not unwrap: %v", err)
	}
	if n := e.count("SELECT COUNT(*) FROM service_statuses WHERE instance_id = ? AND status_id = 23", id); n != 1 {
		t.Errorf("%d NEW service statuses", n)
	}
	if n := e.count("SELECT in_use FROM quota_usages WHERE tenant_id = ? AND resource = 'ram'", projDemo); n != 1024 {
		t.Errorf("ram in use %d", n)
	}

	// The cast carries the typed args and the caller's context.
	if m := e.tm.methods(); len(m) != 1 || m[0] != "create_instance" {
		t.Fatalf("casts %v", m)
	}
	call := e.tm.calls[0]
	args := call.Args.(taskCreateArgs)
	if args.InstanceID != id || args.Flavor.RAM != 1024 || *args.VolumeSize != 2 || args.DatastoreManager != "mysql" ||
		args.ImageID != "img-8.0" || len(args.Users) != 1 || args.Users[0].Host != "%" || args.Users[0].Databases[0].Name != "app" ||
		*args.AvailabilityZone != "nova" || args.Access == nil || args.DSVersion != "8.0" {
		t.Errorf("create_instance args %+v", args)
	}
	if call.RC.ProjectID != projDemo || call.RC.UserID != "u-demo" || !strings.HasPrefix(call.RC.RequestID, "req-") {
		t.Errorf("rpc context %+v", call.RC)
	}

	// Admins see admin-only fields; the owner does not.
	r = e.do("admin", "GET", "/v1.0/"+projAdmin+"/instances/"+id, nil)
	ai := r.Body["instance"].(map[string]any)
	if r.Code != 200 || ai["encrypted_rpc_messaging"] != true || ai["tenant_id"] != projDemo || !strings.Contains(r.Raw, `"server_id":null`) {
		t.Errorf("admin show %d %s", r.Code, r.Raw)
	}
	r = e.do("demo", "GET", p+"/instances/"+id, nil)
	if r.Code != 200 || strings.Contains(r.Raw, "encrypted_rpc_messaging") || strings.Contains(r.Raw, "tenant_id") {
		t.Errorf("owner show %d %s", r.Code, r.Raw)
	}
}

func TestCreateWithoutSecureRPC(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.EnableSecureRPC = false })
	id := e.createInstance("demo", "plain")
	row, err := e.db.GetInstance(t.Context(), id)
	if err != nil || row.EncryptedKey != "" {
		t.Errorf("encrypted_key %q (%v) with enable_secure_rpc_messaging off", row.EncryptedKey, err)
	}
}

func TestCreateInstanceBadInput(t *testing.T) {
	e := newEnv(t)
	p := "/v1.0/" + projDemo + "/instances"
	ok := `"flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "mysql", "version": "8.0"}`
	cases := []struct {
		name, body, fault string
		code              int
		msg               string
	}{
		{"malformed json", `{"instance": `, "badRequest", 400, "Malformed message body"},
		{"trailing garbage", `{"instance": {}} x`, "badRequest", 400, "Malformed message body"},
		{"root array", `[]`, "badRequest", 400, "Validation error: [] is not of type 'object'"},
		{"empty object (Trove 500s)", `{}`, "badRequest", 400, "Validation error: 'instance' is a required property"},
		{"missing name", `{"instance": {` + ok + `}}`, "badRequest", 400, "Validation error: instance 'name' is a required property"},
		{"bad name", `{"instance": {"name": "!!", ` + ok + `}}`, "badRequest", 400, `Validation error: instance['name'] '!!' does not match '^.*[0-9a-zA-Z]+.*$'`},
		{"name wrong type", `{"instance": {"name": 7, ` + ok + `}}`, "badRequest", 400, "7 is not of type 'string'"},
		{"volume zero", `{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": 0}}}`, "badRequest", 400, "instance['volume']['size'] 0 is not valid"},
		{"volume negative string", `{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": "-1"}}}`, "badRequest", 400, "is not valid under any"},
		{"volume over limit", `{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": 11}, "datastore": {"type": "mysql"}}}`, "overLimit", 413, "Volume quota exceeded"},
		{"volume huge", `{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": 123456789012345678901234567890}, "datastore": {"type": "mysql"}}}`, "overLimit", 413, ""},
		{"volume missing", `{"instance": {"name": "x", "flavorRef": "1", "datastore": {"type": "mysql"}}}`, "badRequest", 400, "Volume size was not specified."},
		{"unknown flavor", `{"instance": {"name": "x", "flavorRef": "42", "volume": {"size": 1}, "datastore": {"type": "mysql"}}}`, "badRequest", 400, "Resource 42 cannot be found."},
		{"flavor missing", `{"instance": {"name": "x", "volume": {"size": 1}, "datastore": {"type": "mysql"}}}`, "badRequest", 400, ""},
		{"flavor bool", `{"instance": {"name": "x", "flavorRef": true, "volume": {"size": 1}}}`, "badRequest", 400, "True is not valid under any of the given schemas"},
		{"unknown datastore", `{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "oracle"}}}`, "itemNotFound", 404, "Datastore 'oracle' cannot be found."},
		{"no datastore and no default", `{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": 1}}}`, "badRequest", 400, "Please specify datastore"},
		{"unknown version", `{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "mysql", "version": "9"}}}`, "badRequest", 400, "Datastore version '9' cannot be found."},
		{"inactive version", `{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "mysql", "version": "5.7"}}}`, "badRequest", 400, "Datastore version '5.7' is not active."},
		{"bad nic uuid", `{"instance": {"name": "x", ` + ok + `, "nics": [{"net-id": "zzz"}]}}`, "badRequest", 400, "instance['nics'][0]['net-id'] 'zzz' does not match"},
		{"two nics", `{"instance": {"name": "x", ` + ok + `, "nics": [{}, {}]}}`, "badRequest", 400, "is too long"},
		{"nic without network", `{"instance": {"name": "x", ` + ok + `, "nics": [{"ip_address": "10.0.0.1"}]}}`, "badRequest", 400, "Network or subnet must be specified."},
		{"nic unknown key", `{"instance": {"name": "x", ` + ok + `, "nics": [{"port": 1}]}}`, "badRequest", 400, "Additional properties are not allowed ('port' was unexpected)"},
		{"duplicate databases", `{"instance": {"name": "x", ` + ok + `, "databases": [{"name": "ab"}, {"name": "ab"}]}}`, "badRequest", 400, "Two or more databases"},
		{"reserved database", `{"instance": {"name": "x", ` + ok + `, "databases": [{"name": "mysql"}]}}`, "badRequest", 400, "reserved"},
		{"user db not listed", `{"instance": {"name": "x", ` + ok + `, "users": [{"name": "u", "password": "p", "databases": [{"name": "z"}]}]}}`, "badRequest", 400, "is not included in the initial databases list"},
		{"user without password", `{"instance": {"name": "x", ` + ok + `, "users": [{"name": "u"}]}}`, "badRequest", 400, "instance['users'][0] 'password' is a required property"},
		{"duplicate users", `{"instance": {"name": "x", ` + ok + `, "users": [{"name": "u", "password": "p"}, {"name": "u", "password": "q", "host": "%"}]}}`, "badRequest", 400, "Two or more users"},
		{"replica count without replica_of", `{"instance": {"name": "x", ` + ok + `, "replica_count": 2}}`, "badRequest", 400, "Replica count"},
		{"bad locality", `{"instance": {"name": "x", ` + ok + `, "locality": "near"}}`, "badRequest", 400, "Locality"},
		{"bad replica uuid", `{"instance": {"name": "x", ` + ok + `, "replica_of": "nope"}}`, "badRequest", 400, "does not match"},
		{"cidr", `{"instance": {"name": "x", ` + ok + `, "access": {"allowed_cidrs": ["1.2.3.4/40"]}}}`, "badRequest", 400, "does not match"},
		{"wrong content type", "", "badMediaType", 415, ""},
		{"oversize body", `{"instance": {"name": "` + strings.Repeat("a", 1<<20) + `"}}`, "overLimit", 413, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r response
			if c.name == "wrong content type" {
				r = e.doContentType("demo", "POST", p, "text/plain", `{"instance": {"name": "x"}}`)
			} else {
				r = e.do("demo", "POST", p, c.body)
			}
			if r.Code != c.code || r.faultName() != c.fault || !strings.Contains(r.faultMessage(), c.msg) {
				t.Errorf("got %d %s\nwant %d %s %q", r.Code, r.Raw, c.code, c.fault, c.msg)
			}
			if n := e.count("SELECT COUNT(*) FROM instances"); n != 0 {
				t.Errorf("%d instance rows written", n)
			}
			if n := e.count("SELECT COUNT(*) FROM quota_usages WHERE in_use <> 0 OR reserved <> 0"); n != 0 {
				t.Errorf("quota usage changed")
			}
		})
	}
	if m := e.tm.methods(); len(m) != 0 {
		t.Errorf("casts after bad input: %v", m)
	}
}

func TestTenantIsolationAndRoles(t *testing.T) {
	e := newEnv(t)
	id := e.createInstance("demo", "mine")
	p2 := "/v1.0/" + projDemo2 + "/instances/" + id
	for _, m := range []string{"GET", "DELETE"} {
		if r := e.do("demo2", m, p2, nil); r.Code != 404 || r.faultName() != "itemNotFound" {
			t.Errorf("%s other tenant's instance: %d %s", m, r.Code, r.Raw)
		}
	}
	if r := e.do("demo2", "PUT", p2, `{"instance": {"name": "stolen"}}`); r.Code != 404 {
		t.Errorf("PUT other tenant's instance: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo2", "GET", "/v1.0/"+projDemo2+"/instances", nil); r.Code != 200 || r.Raw != `{"instances":[]}` {
		t.Errorf("other tenant's list: %s", r.Raw)
	}
	// A reader can look but not create or delete — refused by policy before any lookup.
	p := "/v1.0/" + projDemo + "/instances"
	if r := e.do("reader", "GET", p+"/"+id, nil); r.Code != 200 {
		t.Errorf("reader show: %d", r.Code)
	}
	r := e.do("reader", "POST", p, `{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "mysql"}}}`)
	if r.Code != 403 || r.faultName() != "forbidden" || r.faultMessage() != "Policy doesn't allow instance:create to be performed." {
		t.Errorf("reader create: %d %s", r.Code, r.Raw)
	}
	if r := e.do("reader", "DELETE", p+"/00000000-0000-0000-0000-000000000000", nil); r.Code != 403 {
		t.Errorf("reader delete of a missing instance: %d (want the policy 403, not 404)", r.Code)
	}
	if n := e.count("SELECT COUNT(*) FROM instances"); n != 1 {
		t.Errorf("%d instances", n)
	}
	// Admins address any tenant's instance from their own project.
	if r := e.do("admin", "GET", "/v1.0/"+projAdmin+"/instances/"+id, nil); r.Code != 200 {
		t.Errorf("admin show: %d", r.Code)
	}
}

func TestListPaginationAndStatus(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.InstancesPageSize = 3 })
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, e.createInstance("demo", fmt.Sprintf("db%d", i)))
	}
	e.markActive(ids[0])
	p := "/v1.0/" + projDemo + "/instances"
	seen := map[string]bool{}
	url := p + "?limit=10"
	pages := 0
	for url != "" {
		r := e.do("demo", "GET", url, nil)
		if r.Code != 200 {
			t.Fatalf("GET %s: %d %s", url, r.Code, r.Raw)
		}
		for _, it := range r.Body["instances"].([]any) {
			inst := it.(map[string]any)
			seen[inst["id"].(string)] = true
			want := "BUILD"
			if inst["id"] == ids[0] {
				want = "ACTIVE"
				if inst["operating_status"] != "HEALTHY" {
					t.Errorf("operating_status %v", inst["operating_status"])
				}
			}
			if inst["status"] != want {
				t.Errorf("%s status %v, want %s", inst["id"], inst["status"], want)
			}
			if _, ok := inst["created"]; ok {
				t.Errorf("list item has detail key created")
			}
		}
		url = ""
		if links, ok := r.Body["links"].([]any); ok {
			href := links[0].(map[string]any)["href"].(string)
			if !strings.HasPrefix(href, "https://api.test:8779"+p+"?") || !strings.Contains(href, "marker=") {
				t.Fatalf("next link %s", href)
			}
			url = strings.TrimPrefix(href, "https://api.test:8779")
		}
		pages++
	}
	if len(seen) != 5 || pages != 2 {
		t.Errorf("saw %d instances on %d pages", len(seen), pages)
	}
	r := e.do("demo", "GET", p+"/detail", nil)
	if r.Code != 200 || !strings.Contains(r.Raw, `"created":"`) || !strings.Contains(r.Raw, `"links":[{"href":"https://`) {
		t.Errorf("detail: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "GET", p+"?limit=abc", nil); r.Code != 400 {
		t.Errorf("bad limit: %d", r.Code)
	}
}

func TestUpdateAndDelete(t *testing.T) {
	e := newEnv(t)
	p := "/v1.0/" + projDemo + "/instances/"
	id := e.createInstance("demo", "old")

	// Still building: delete is refused with 422.
	if r := e.do("demo", "DELETE", p+id, nil); r.Code != 422 || r.faultName() != "unprocessableEntity" {
		t.Errorf("delete while building: %d %s", r.Code, r.Raw)
	}
	cases := []struct {
		method, body, fault string
		code                int
	}{
		{"PUT", `{"instance": {"name": "new"}}`, "", 202},
		{"PATCH", `{"instance": {"name": "newer"}}`, "", 202},
		{"PUT", `{"instance": {}}`, "", 202},
		{"PUT", `{"instance": {"name": "!!"}}`, "badRequest", 400},
		{"PUT", `{"instance": {"bogus": 1}}`, "badRequest", 400},
		{"PATCH", `{"instance": {"access": {}}}`, "badRequest", 400},
		{"PUT", `{"instance": {"replica_of": null, "datastore_version": "8.0"}}`, "badRequest", 400},
		{"PUT", `{"instance": {"replica_of": null}}`, "unprocessableEntity", 422}, // Trove validates the state first
		{"PUT", `{"instance": {"datastore_version": "nope"}}`, "badRequest", 400},
		{"PUT", `{"instance": {"datastore_version": "5.7"}}`, "badRequest", 400},
		{"PUT", `{}`, "badRequest", 400},
	}
	for _, c := range cases {
		r := e.do("demo", c.method, p+id, c.body)
		if r.Code != c.code || r.faultName() != c.fault {
			t.Errorf("%s %s: %d %s", c.method, c.body, r.Code, r.Raw)
		}
		if c.code == 202 && (r.Raw != "" || r.Header.Get("Content-Type") != "application/json") {
			t.Errorf("202 body %q content type %q", r.Raw, r.Header.Get("Content-Type"))
		}
	}
	row, _ := e.db.GetInstance(t.Context(), id)
	if row.Name != "newer" {
		t.Errorf("name %q", row.Name)
	}

	e.markActive(id)
	if r := e.do("demo", "PATCH", p+id, `{"instance": {"datastore_version": "8.0"}}`); r.Code != 202 {
		t.Errorf("upgrade: %d %s", r.Code, r.Raw)
	}
	e.markActive(id)
	if r := e.do("demo", "DELETE", p+id, nil); r.Code != 202 {
		t.Fatalf("delete: %d %s", r.Code, r.Raw)
	}
	row, _ = e.db.GetInstance(t.Context(), id)
	if row.TaskID != 2 {
		t.Errorf("task after delete %d", row.TaskID)
	}
	r := e.do("demo", "GET", p+id, nil)
	if r.Body["instance"].(map[string]any)["status"] != "SHUTDOWN" {
		t.Errorf("status while deleting %s", r.Raw)
	}
	if m := strings.Join(e.tm.methods(), ","); m != "create_instance,upgrade,delete_instance" {
		t.Errorf("casts %s", m)
	}
	if r := e.do("demo", "DELETE", p+"not-a-uuid", nil); r.Code != 404 {
		t.Errorf("delete unknown: %d", r.Code)
	}
}

func TestCastFailureMarksInstance(t *testing.T) {
	e := newEnv(t)
	e.tm.fail = fmt.Errorf("broker down")
	r := e.do("demo", "POST", "/v1.0/"+projDemo+"/instances", `{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "mysql"}}}`)
	if r.Code != 500 || r.faultName() != "instanceFault" || !strings.Contains(r.faultMessage(), "req-") || strings.Contains(r.Raw, "broker") {
		t.Fatalf("got %d %s", r.Code, r.Raw)
	}
	var body struct {
		Instances []struct{ Status string } `json:"instances"`
	}
	r = e.do("demo", "GET", "/v1.0/"+projDemo+"/instances", nil)
	if err := json.Unmarshal([]byte(r.Raw), &body); err != nil || len(body.Instances) != 1 || body.Instances[0].Status != "ERROR" {
		t.Errorf("after failed cast: %s", r.Raw)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RateLimits = map[string]int{"GET": 2} })
	p := "/v1.0/" + projDemo + "/flavors"
	for i := 0; i < 2; i++ {
		if r := e.do("demo", "GET", p, nil); r.Code != 200 {
			t.Fatalf("request %d: %d", i, r.Code)
		}
	}
	r := e.do("demo", "GET", p, nil)
	if r.Code != 413 || r.faultName() != "overLimit" || r.Header.Get("Retry-After") == "" || !strings.Contains(r.Raw, "Only 2 GET request(s)") {
		t.Errorf("third request: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo2", "GET", "/v1.0/"+projDemo2+"/flavors", nil); r.Code != 200 {
		t.Errorf("other project limited: %d", r.Code)
	}
}

// Concurrent creates never exceed the quota: the reservation is one transaction in the catalog.
func TestConcurrentCreatesRespectQuota(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Quotas.Instances = 3 })
	codes := make(chan int, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			r := e.do("demo", "POST", "/v1.0/"+projDemo+"/instances", fmt.Sprintf(`{"instance": {"name": "c%d", "flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "mysql"}}}`, i))
			codes <- r.Code
		}(i)
	}
	got := map[int]int{}
	for i := 0; i < 8; i++ {
		got[<-codes]++
	}
	if got[200] != 3 || got[413] != 5 {
		t.Errorf("status codes %v, want 3×200 and 5×413", got)
	}
	if n := e.count("SELECT COUNT(*) FROM instances"); n != 3 {
		t.Errorf("%d instances", n)
	}
	if n := e.count("SELECT in_use FROM quota_usages WHERE tenant_id = ? AND resource = 'instances'", projDemo); n != 3 {
		t.Errorf("instances in use %d", n)
	}
}

type fakeServers map[string]compute.Server

func (f fakeServers) GetServer(_ context.Context, id string) (compute.Server, error) {
	s, ok := f[id]
	if !ok {
		return s, compute.ErrNotFound
	}
	return s, nil
}

// ServerAddresses fails: lists through this double show no addresses.
func (f fakeServers) ServerAddresses(context.Context, []string) (map[string][]compute.Address, error) {
	return nil, compute.ErrNotFound
}

func TestShowAddresses(t *testing.T) {
	e := newEnv(t)
	id := e.createInstance("demo", "addr")
	e.markActive(id) // server id "server-<first 8 of id>"
	e.api.servers = fakeServers{"server-" + id[:8]: {Addresses: []compute.Address{{Network: "local", Addr: "127.77.0.5", Version: 4}, {Addr: "::1", Version: 6}}}}
	r := e.do("demo", "GET", "/v1.0/"+projDemo+"/instances/"+id, nil)
	if !strings.Contains(r.Raw, `"ip":["127.77.0.5"],"addresses":[{"address":"127.77.0.5","type":"private","network":"local"}]`) {
		t.Errorf("show: %s", r.Raw)
	}
	e.api.servers = fakeServers{}
	if r := e.do("demo", "GET", "/v1.0/"+projDemo+"/instances/"+id, nil); r.Code != 200 || strings.Contains(r.Raw, `"ip"`) {
		t.Errorf("show without server: %d %s", r.Code, r.Raw)
	}
}

func TestMgmtInstances(t *testing.T) {
	e := newEnv(t)
	a := e.createInstance("demo", "a")
	b := e.createInstance("demo2", "b")
	e.markActive(a)
	pa := "/v1.0/" + projAdmin + "/mgmt/instances"
	r := e.do("admin", "GET", pa+"?deleted=false", nil)
	if r.Code != 200 || len(r.Body["instances"].([]any)) != 2 {
		t.Fatalf("mgmt list: %d %s", r.Code, r.Raw)
	}
	r = e.do("admin", "GET", pa+"?project_id="+projDemo2, nil)
	items := r.Body["instances"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != b || items[0].(map[string]any)["tenant_id"] != projDemo2 ||
		items[0].(map[string]any)["server"] != nil || items[0].(map[string]any)["service_status"] != "NEW" {
		t.Errorf("mgmt list by project: %s", r.Raw)
	}
	r = e.do("admin", "GET", pa+"/"+a, nil)
	inst, _ := r.Body["instance"].(map[string]any)
	if r.Code != 200 || inst["server"].(map[string]any)["id"] != "server-"+a[:8] || inst["service_status"] != "HEALTHY" || inst["deleted"] != false ||
		inst["task_description"] != "No tasks for the instance." || inst["encrypted_rpc_messaging"] != true {
		t.Errorf("mgmt show: %d %s", r.Code, r.Raw)
	}
	r = e.do("admin", "GET", pa+"?limit=1", nil)
	links, _ := r.Body["links"].([]any)
	if len(r.Body["instances"].([]any)) != 1 || len(links) != 1 || !strings.Contains(links[0].(map[string]any)["href"].(string), "marker=1") {
		t.Errorf("mgmt pagination: %s", r.Raw)
	}
	if r := e.do("admin", "GET", pa+"/00000000-0000-0000-0000-000000000000", nil); r.Code != 404 {
		t.Errorf("mgmt show unknown: %d", r.Code)
	}
}

// Cached datastore bodies depend on the caller: admins see inactive versions, links carry the caller's tenant.
func TestDatastoreCacheKeys(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DatastoreCacheTTL = time.Hour })
	for i := 0; i < 2; i++ {
		demo := e.do("demo", "GET", "/v1.0/"+projDemo+"/datastores", nil)
		admin := e.do("admin", "GET", "/v1.0/"+projAdmin+"/datastores", nil)
		demo2 := e.do("demo2", "GET", "/v1.0/"+projDemo2+"/datastores", nil)
		if strings.Contains(demo.Raw, `"active"`) || !strings.Contains(admin.Raw, `"active":false`) ||
			!strings.Contains(demo.Raw, "/v1.0/"+projDemo+"/") || !strings.Contains(demo2.Raw, "/v1.0/"+projDemo2+"/") || strings.Contains(demo2.Raw, projDemo+"/") {
			t.Fatalf("round %d:\n%s\n%s\n%s", i, demo.Raw, admin.Raw, demo2.Raw)
		}
	}
}

func TestBackupsReadOnly(t *testing.T) {
	e := newEnv(t)
	id := e.createInstance("demo", "withbackup")
	b, err := e.db.CreateBackup(t.Context(), catalog.Backup{Name: "nightly", TenantID: projDemo, InstanceID: id, State: "COMPLETED",
		Size: 0.5, DatastoreVersionID: e.mysql.ID, Location: "swift://x/y"}, catalog.TroveDefaults)
	if err != nil {
		t.Fatal(err)
	}
	p := "/v1.0/" + projDemo
	cases := []struct {
		token, path string
		code        int
		contains    string
	}{
		{"demo", p + "/backups", 200, `"name":"nightly","description":null,"locationRef":"swift://x/y","instance_id":"` + id},
		{"demo", p + "/backups/" + b.ID, 200, `"datastore":{"type":"mysql","version":"8.0","version_id":"` + e.mysql.ID + `"}`},
		{"demo", p + "/instances/" + id + "/backups", 200, `"status":"COMPLETED"`},
		{"demo", p + "/backups?all_projects=true", 403, ""},
		{"demo2", "/v1.0/" + projDemo2 + "/backups", 200, `{"backups":[]}`},
		{"demo2", "/v1.0/" + projDemo2 + "/backups/" + b.ID, 404, ""},
		{"demo2", "/v1.0/" + projDemo2 + "/instances/" + id + "/backups", 404, ""},
		{"admin", "/v1.0/" + projAdmin + "/backups?all_projects=1", 200, `"project_id":"` + projDemo + `"`},
		{"admin", "/v1.0/" + projAdmin + "/backups", 200, `{"backups":[]}`},
	}
	for _, c := range cases {
		r := e.do(c.token, "GET", c.path, nil)
		if r.Code != c.code || !strings.Contains(r.Raw, c.contains) {
			t.Errorf("%s GET %s: %d %s", c.token, c.path, r.Code, r.Raw)
		}
	}
	// A running backup shows the instance as BACKUP.
	e.markActive(id)
	state := "BUILDING"
	if err := e.db.UpdateBackup(t.Context(), b.ID, catalog.BackupUpdate{State: &state}); err != nil {
		t.Fatal(err)
	}
	if r := e.do("demo", "GET", p+"/instances", nil); !strings.Contains(r.Raw, `"status":"BACKUP"`) {
		t.Errorf("instance with a running backup: %s", r.Raw)
	}
}

func TestGlobalRequestID(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ in, want string }{
		{"req-7e1a0b5c-3f0e-4a8e-9a43-1d2c3b4a5f60", "req-7e1a0b5c-3f0e-4a8e-9a43-1d2c3b4a5f60"},
		{"not-an-id", ""},
	} {
		req := httptest.NewRequest("POST", "/v1.0/"+projDemo+"/instances", strings.NewReader(`{"instance": {"name": "g", "flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "mysql"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Auth-Token", "demo")
		req.Header.Set("X-OpenStack-Request-ID", c.in)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Header().Get("X-OpenStack-Request-ID") == c.in {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		last := e.tm.calls[len(e.tm.calls)-1].RC
		if last.GlobalRequestID != c.want || last.RequestID == c.in {
			t.Errorf("inbound %q: rpc context %+v", c.in, last)
		}
	}
}

// cloudServers is a fakeServers whose driver has volume types (compute.VolumeTypeLister).
type cloudServers struct {
	fakeServers
	types []compute.VolumeType
}

func (c cloudServers) ListVolumeTypes(context.Context) ([]compute.VolumeType, error) {
	return c.types, nil
}

func TestVersionVolumeTypes(t *testing.T) {
	e := newEnv(t)
	path := "/v1.0/" + projDemo + "/datastores/mysql/versions/" + e.mysql.ID + "/volume-types"
	// The local driver has no volume types: 501 in Trove's fault format.
	e.api.servers = fakeServers{}
	if r := e.do("demo", "GET", path, nil); r.Code != 501 || r.faultName() != "notImplemented" {
		t.Errorf("without volume types: %d %s", r.Code, r.Raw)
	}
	e.api.servers = cloudServers{fakeServers{}, []compute.VolumeType{
		{ID: "t1", Name: "fast", Description: "SSD", IsPublic: true}, {ID: "t2", Name: "slow"}}}
	r := e.do("demo", "GET", path, nil)
	want := `{"volume_types":[{"id":"t1","name":"fast","is_public":true,"description":"SSD"},{"id":"t2","name":"slow","is_public":false,"description":""}]}`
	if r.Code != 200 || r.Raw != want {
		t.Errorf("all types: %d %s, want %s", r.Code, r.Raw, want)
	}
	// volume_type metadata restricts them, by name or by id.
	if err := e.db.AddVersionMetadata(t.Context(), e.mysql.ID, "volume_type", []string{"t2"}); err != nil {
		t.Fatal(err)
	}
	if r := e.do("demo", "GET", path, nil); r.Code != 200 || !strings.Contains(r.Raw, `"name":"slow"`) || strings.Contains(r.Raw, "fast") {
		t.Errorf("restricted types: %d %s", r.Code, r.Raw)
	}
	// An unknown version is refused as on the flavors route.
	flavors := e.do("demo", "GET", "/v1.0/"+projDemo+"/datastores/mysql/versions/nope/flavors", nil)
	if r := e.do("demo", "GET", "/v1.0/"+projDemo+"/datastores/mysql/versions/nope/volume-types", nil); r.Code != flavors.Code || r.Raw != flavors.Raw {
		t.Errorf("unknown version: %d %s, want %d %s", r.Code, r.Raw, flavors.Code, flavors.Raw)
	}
}
