package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/services/api/internal/manage"
)

// decodeParams decodes a configuration-parameters list with its numbers as written.
func decodeParams(t *testing.T, raw string) []map[string]any {
	t.Helper()
	var body struct {
		Params []map[string]any `json:"configuration-parameters"`
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	sort.Slice(body.Params, func(i, j int) bool { return body.Params[i]["name"].(string) < body.Params[j]["name"].(string) })
	return body.Params
}

// TestShippedParameters loads the rules make run ships (deploy/config/validation-rules) into the versions make
// run registers, through the loader of trove-manage db_load_datastore_config_parameters, and lists them through
// the API in Trove's format: every rule of the file, max and min as in the file (0 and 2^64-1 included).
func TestShippedParameters(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if _, err := e.db.UpdateDatastore(ctx, "mariadb", ""); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ ds, name, number, manager string }{
		{"mariadb", "10.11", "10.11", "mariadb"},
		{"mysql", "mariadb-10.11", "10.11", "mysql"},
	} {
		if _, err := e.db.UpdateDatastoreVersion(ctx, catalog.VersionUpdate{Datastore: v.ds, Name: v.name, Version: v.number,
			Manager: v.manager, ImageID: "img", Active: true, RegistryExt: catalog.DefaultRegistryExt(v.manager),
			ReplStrategy: catalog.DefaultReplStrategy(v.manager, "", "")}); err != nil {
			t.Fatal(err)
		}
	}
	p := "/v1.0/" + projDemo
	for _, l := range []struct{ ds, version, manager string }{
		{"mariadb", "10.11", "mariadb"},
		{"mysql", "mariadb-10.11", "mysql"},
		{"postgresql", "15", "postgresql"}, // inactive in newEnv: listed all the same
	} {
		file := filepath.Join("../../../../deploy/config/validation-rules", l.manager+".json")
		n, err := manage.LoadValidationRules(ctx, e.db, l.ds, l.version, "", file)
		if err != nil {
			t.Fatal(err)
		}
		_, v, err := e.db.FindVersion(ctx, l.ds, l.version)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want := decodeParams(t, string(raw))
		for _, w := range want { // the file's entries as the API shows them
			w["datastore_version_id"] = v.ID
		}
		if len(want) != n {
			t.Fatalf("%s: loaded %d of %d", file, n, len(want))
		}
		for _, path := range []string{p + "/datastores/" + l.ds + "/versions/" + l.version + "/parameters",
			p + "/datastores/" + l.ds + "/versions/" + v.ID + "/parameters", p + "/datastores/versions/" + v.ID + "/parameters"} {
			r := e.do("demo", "GET", path, nil)
			if r.Code != 200 {
				t.Fatalf("GET %s: %d %s", path, r.Code, r.Raw)
			}
			if got := decodeParams(t, r.Raw); !reflect.DeepEqual(got, want) {
				for i := range got {
					if i < len(want) && !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("GET %s: %d parameters; first difference\n%v\nwant\n%v", path, len(got), got[i], want[i])
					}
				}
				t.Fatalf("GET %s: %d parameters, want %d", path, len(got), len(want))
			}
		}
	}

	// Trove's exact text for two of mysql's, one by name (unwrapped) and one in the list.
	r := e.do("demo", "GET", p+"/datastores/mysql/versions/mariadb-10.11/parameters/autocommit", nil)
	_, v, _ := e.db.FindVersion(ctx, "mysql", "mariadb-10.11")
	if r.Code != 200 || r.Raw != `{"name":"autocommit","datastore_version_id":"`+v.ID+`","restart_required":false,"type":"integer","max":1,"min":0}` {
		t.Errorf("autocommit: %d %s", r.Code, r.Raw)
	}
	r = e.do("demo", "GET", p+"/datastores/mysql/versions/mariadb-10.11/parameters", nil)
	if !strings.Contains(r.Raw, `{"name":"innodb_buffer_pool_size","datastore_version_id":"`+v.ID+`","restart_required":true,"type":"integer","max":18446744073701163008,"min":5242880}`) {
		t.Errorf("innodb_buffer_pool_size: %s", r.Raw)
	}
	// A parameter the file does not have is not one of the version's.
	if r := e.do("demo", "GET", p+"/datastores/mariadb/versions/10.11/parameters/innodb_thread_concurrency", nil); r.Code != 404 {
		t.Errorf("dropped parameter: %d %s", r.Code, r.Raw)
	}
}
