package api

import (
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
)

// idVariants are spellings of id that MariaDB's comparison (case-insensitive, trailing blanks ignored) matches.
func idVariants(id string) []string {
	out := []string{id + "%20", id + "%09", "%20" + id, id + "%0A"}
	if up := strings.ToUpper(id); up != id {
		out = append(out, up)
		i := strings.IndexAny(id, "abcdef")
		out = append(out, id[:i]+strings.ToUpper(id[i:i+1])+id[i+1:])
	}
	return out
}

// routeObjects are the ids of real objects that routes with an id are sent to.
type routeObjects struct{ instance, configuration, backup, version string }

// of returns the placeholder of a troveRoutes pattern that names one of the objects, and that object's id ("",
// "" for a route without one).
func (o routeObjects) of(pattern string) (placeholder, id string) {
	switch {
	case strings.Contains(pattern, "/instances/{id}"):
		return "{id}", o.instance
	case strings.Contains(pattern, "/instances/{iid}"):
		return "{iid}", o.instance
	case strings.HasPrefix(pattern, "/{t}/configurations/{id}"):
		return "{id}", o.configuration
	case strings.HasPrefix(pattern, "/{t}/backups/{id}"):
		return "{id}", o.backup
	case strings.Contains(pattern, "/versions/{uuid}"):
		return "{uuid}", o.version
	case strings.Contains(pattern, "/versions/{version_id}"):
		return "{version_id}", o.version
	}
	return "", ""
}

// validBodies are bodies a route accepts (with the canonical ids of TestIDsAreCanonical), so that an id is what
// is refused.
var validBodies = map[string]any{
	"PUT /{t}/instances/{id}":                         `{"instance": {"name": "renamed"}}`,
	"PATCH /{t}/instances/{id}":                       `{"instance": {"name": "renamed"}}`,
	"POST /{t}/instances/{id}/action":                 `{"restart": {}}`,
	"POST /{t}/instances/{id}/log":                    `{"name": "general", "publish": 1}`,
	"POST /{t}/instances/{iid}/databases":             `{"databases": [{"name": "app2"}]}`,
	"POST /{t}/instances/{iid}/users":                 `{"users": [{"name": "app2", "password": "pw"}]}`,
	"PUT /{t}/instances/{iid}/users":                  `{"users": [{"name": "appuser", "password": "pw"}]}`,
	"PUT /{t}/instances/{iid}/users/{user}":           `{"user": {"password": "pw2"}}`,
	"PUT /{t}/instances/{iid}/users/{user}/databases": `{"databases": [{"name": "app"}]}`,
	"POST /{t}/instances/{iid}/root":                  `{}`,
	"PUT /{t}/configurations/{id}":                    `{"configuration": {"values": {}}}`,
	"PATCH /{t}/configurations/{id}":                  `{"configuration": {"values": {}}}`,
	"POST /{t}/mgmt/instances/{id}/action":            `{"rotate_rpc_key": {}}`,
}

// Ids are canonical on every route that takes one: an upper-cased id or one with blanks is the object's 404
// (or Trove's 400 for datastore versions), never the object (issue 12: a DELETE on an upper-cased id deleted
// the instance).
func TestIDsAreCanonical(t *testing.T) {
	e := newEnv(t)
	p, g := activeGuestInstance(t, e)
	id := p[strings.LastIndexByte(p, '/')+1:]
	ctx := t.Context()
	conf, err := e.db.CreateConfiguration(ctx, catalog.Configuration{Name: "c", TenantID: projDemo, DatastoreVersionID: e.mysql.ID}, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	backup, err := e.db.CreateBackup(ctx, catalog.Backup{Name: "b", TenantID: projDemo, InstanceID: id, State: "COMPLETED",
		DatastoreVersionID: e.mysql.ID}, catalog.TroveDefaults)
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{p, "/v1.0/" + projDemo + "/configurations/" + conf.ID, "/v1.0/" + projDemo + "/backups/" + backup.ID,
		"/v1.0/" + projDemo + "/datastores/versions/" + e.mysql.ID, "/v1.0/" + projDemo + "/datastores/mysql/versions/" + e.mysql.ID} {
		if r := e.do("demo", "GET", ok, nil); r.Code != 200 {
			t.Fatalf("GET %s with the canonical id: %d %s", ok, r.Code, r.Raw)
		}
	}
	documented := documented501(t)
	objs := routeObjects{instance: id, configuration: conf.ID, backup: backup.ID, version: e.mysql.ID}
	routes := 0
	for _, rt := range troveRoutes {
		ph, canonical := objs.of(rt.path)
		if ph == "" {
			continue
		}
		routes++
		token, tenant := "demo", projDemo
		if strings.HasPrefix(rt.path, "/{t}/mgmt/") {
			token, tenant = "admin", projAdmin
		}
		for _, v := range idVariants(canonical) {
			path := concretePath(strings.Replace(rt.path, ph, v, 1), tenant)
			r := e.do(token, rt.method, path, validBodies[rt.method+" "+rt.path])
			key := rt.method + " /v1.0" + rt.path
			switch {
			case documented[key] && r.Code == 501:
			case r.Code == 404 && r.faultName() == "itemNotFound":
			case r.Code == 400 && strings.Contains(rt.path, "/versions/") && strings.Contains(r.faultMessage(), "Datastore version"):
			default:
				t.Errorf("%s %q: %d %s", rt.method, path, r.Code, r.Raw)
			}
		}
	}
	if routes < 30 {
		t.Fatalf("only %d routes with an id", routes)
	}
	// Datastores and versions by name are exact too.
	for _, path := range []string{"/datastores/MYSQL", "/datastores/mysql%20", "/datastores/MySQL/versions/8.0", "/datastores/mysql/versions/8.0%20"} {
		if r := e.do("demo", "GET", "/v1.0/"+projDemo+path, nil); r.Code != 404 && r.Code != 400 {
			t.Errorf("GET %s: %d %s", path, r.Code, r.Raw)
		}
	}
	// Nothing happened to the objects.
	row, err := e.db.GetInstance(ctx, id)
	if err != nil || row.Task() != status.TaskNone || row.Name != "names" {
		t.Errorf("instance after the sweep: %+v %v", row, err)
	}
	if m := e.tm.methods(); len(m) != 1 || m[0] != "create_instance" {
		t.Errorf("casts: %v", m)
	}
	for _, c := range g.calls {
		if strings.HasPrefix(c, "create_") || strings.HasPrefix(c, "delete_") || strings.HasSuffix(c, "_root") {
			t.Errorf("guest call %s", c)
		}
	}
	if _, err := e.db.GetConfiguration(ctx, conf.ID); err != nil {
		t.Errorf("configuration after the sweep: %v", err)
	}
}

func TestCanonicalID(t *testing.T) {
	for s, want := range map[string]bool{
		"5f1f1d0e-0000-4000-8000-00000000000a":   true,
		"5F1F1D0E-0000-4000-8000-00000000000A":   false,
		"5f1f1d0e-0000-4000-8000-00000000000a ":  false,
		"5f1f1d0e-0000-4000-8000-00000000000a\n": false,
		"5f1f1d0e00004000800000000000000a":       false,
		"5f1f1d0e-0000-4000-8000-00000000000g":   false,
		"5f1f1d0e+0000-4000-8000-00000000000a":   false,
		"":                                       false,
	} {
		if canonicalID(s) != want {
			t.Errorf("canonicalID(%q) != %v", s, want)
		}
	}
}
