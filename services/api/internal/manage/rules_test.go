package manage_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
)

// rulesDir holds the validation rules make run loads (deploy/config/validation-rules/<manager>.json).
const rulesDir = "../../../../deploy/config/validation-rules"

// shippedManagers are the managers of the datastores make run registers, each with a rules file.
var shippedManagers = []string{"mysql", "mariadb", "postgresql"}

func rulesFile(manager string) string { return filepath.Join(rulesDir, manager+".json") }

// rawRule is one entry of a validation-rules.json as written, numbers untouched.
type rawRule struct {
	Name            string       `json:"name"`
	RestartRequired bool         `json:"restart_required"`
	Type            string       `json:"type"`
	Max             *json.Number `json:"max"`
	Min             *json.Number `json:"min"`
}

func readRules(t *testing.T, path string) []rawRule {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Params []rawRule `json:"configuration-parameters"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc.Params
}

// shippedCatalog is a synced catalog with the datastore versions make run registers (deploy/run.sh, "datastore
// versions"): mariadb 10.11, mysql mariadb-10.11 (number 10.11) and postgresql 15, each like `register`.
func shippedCatalog(t *testing.T) (conf string, d *catalog.DB) {
	t.Helper()
	conf, dsn := setup(t)
	if r := run(t, "--config-file", conf, "db_sync"); r.code != 0 {
		t.Fatalf("db_sync: %+v", r)
	}
	for _, r := range [][]string{
		{"mariadb", "10.11", "mariadb", "10.11"},
		{"mysql", "mariadb-10.11", "mysql", "10.11"},
		{"postgresql", "15", "postgresql", "15"},
	} {
		for _, args := range [][]string{
			{"datastore_update", r[0], ""},
			{"datastore_version_update", r[0], r[1], r[2], "img-" + r[1], "", "1", "--version", r[3]},
			{"datastore_update", r[0], r[1]},
		} {
			if res := run(t, append([]string{"--config-file", conf}, args...)...); res.code != 0 {
				t.Fatalf("trove-manage %v: %+v", args, res)
			}
		}
	}
	d, err := catalog.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return conf, d
}

// TestLoadShippedValidationRules loads every shipped rules file with trove-manage
// db_load_datastore_config_parameters as make run does, loads them again (nothing changes), and checks the rows
// against the files.
func TestLoadShippedValidationRules(t *testing.T) {
	t.Parallel()
	conf, d := shippedCatalog(t)
	loads := []struct{ ds, version, number, manager string }{
		{"mariadb", "10.11", "10.11", "mariadb"},
		{"mysql", "mariadb-10.11", "10.11", "mysql"},
		{"postgresql", "15", "15", "postgresql"},
	}
	ids := map[string]string{} // version id/name → row id, from the first load
	for round := 1; round <= 2; round++ {
		for _, l := range loads {
			file, _ := filepath.Abs(rulesFile(l.manager))
			r := run(t, "--config-file", conf, "db_load_datastore_config_parameters", l.ds, l.version, file, "--version", l.number)
			want := fmt.Sprintf("Loading config parameters for datastore (%s) version (%s)\n", l.ds, l.version)
			if r.code != 0 || r.stdout != want || r.stderr != "" {
				t.Fatalf("round %d, load %s %s: %+v", round, l.ds, l.version, r)
			}
			_, v, err := d.FindVersionNumber(t.Context(), l.ds, l.version, l.number)
			if err != nil {
				t.Fatal(err)
			}
			rules := readRules(t, file)
			rows, err := d.ConfigParams(t.Context(), v.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(rules) {
				t.Fatalf("round %d, %s %s: %d rows for %d rules", round, l.ds, l.version, len(rows), len(rules))
			}
			byName := map[string]catalog.ConfigParam{}
			for _, p := range rows {
				byName[p.Name] = p
			}
			for _, rule := range rules {
				p, ok := byName[rule.Name]
				want := catalog.ConfigParam{ID: p.ID, Name: rule.Name, DatastoreVersionID: v.ID, RestartRequired: rule.RestartRequired,
					DataType: rule.Type, MaxSize: numText(rule.Max), MinSize: numText(rule.Min)}
				if !ok || p != want {
					t.Fatalf("round %d, %s %s: row %+v, want %+v", round, l.ds, l.version, p, want)
				}
				key := v.ID + "/" + p.Name
				if round == 1 {
					ids[key] = p.ID
				} else if ids[key] != p.ID {
					t.Fatalf("reload replaced %s: id %s, was %s", key, p.ID, ids[key])
				}
			}
		}
	}
}

func numText(n *json.Number) string {
	if n == nil {
		return ""
	}
	return n.String()
}

// TestLoadValidationRulesUpdatesAndErrors: a changed file updates the rows it names and keeps the others (as
// Trove); a bad file or an unknown datastore version is an error with exit status 1 that writes nothing.
func TestLoadValidationRulesUpdatesAndErrors(t *testing.T) {
	t.Parallel()
	conf, d := shippedCatalog(t)
	// An inactive version takes rules too (Trove: return_inactive=True).
	if r := run(t, "--config-file", conf, "datastore_version_update", "mysql", "10.11", "mysql", "img", "", "0"); r.code != 0 {
		t.Fatalf("inactive version: %+v", r)
	}
	_, v, err := d.FindVersion(t.Context(), "mariadb", "10.11")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	load := func(file string, extra ...string) result {
		return run(t, append([]string{"--config-file", conf, "db_load_datastore_config_parameters", "mariadb", "10.11", file}, extra...)...)
	}
	rows := func() string {
		ps, err := d.ConfigParams(t.Context(), v.ID)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, p := range ps {
			s = append(s, fmt.Sprintf("%s:%v:%s:%s:%s", p.Name, p.RestartRequired, p.DataType, p.MinSize, p.MaxSize))
		}
		return strings.Join(s, " ")
	}

	first := write("first.json", `{"configuration-parameters": [
		{"name": "max_connections", "restart_required": false, "max": 100000, "min": 10, "type": "integer"},
		{"name": "long_query_time", "restart_required": false, "min": 0, "max": 10.0, "type": "float"},
		{"name": "innodb_buffer_pool_size", "restart_required": true, "max": 18446744073701163008, "min": 5242880, "type": "integer"}]}`)
	if r := load(first); r.code != 0 {
		t.Fatalf("first load: %+v", r)
	}
	want := "innodb_buffer_pool_size:true:integer:5242880:18446744073701163008 long_query_time:false:float:0:10.0 max_connections:false:integer:10:100000"
	if got := rows(); got != want {
		t.Fatalf("after first load:\n%s\nwant\n%s", got, want)
	}
	second := write("second.json", `{"configuration-parameters": [
		{"name": "max_connections", "restart_required": true, "max": 5000, "type": "integer"},
		{"name": "sql_mode", "restart_required": false, "type": "string"}]}`)
	if r := load(second, "--version", "10.11"); r.code != 0 {
		t.Fatalf("second load: %+v", r)
	}
	want = "innodb_buffer_pool_size:true:integer:5242880:18446744073701163008 long_query_time:false:float:0:10.0 max_connections:true:integer::5000 sql_mode:false:string::"
	if got := rows(); got != want {
		t.Fatalf("after second load (updated, added, others kept):\n%s\nwant\n%s", got, want)
	}

	bad := []struct{ name, text, stderr string }{
		{"not json", "[DEFAULT]\n", "invalid character"},
		{"no list", `{"parameters": []}`, `no "configuration-parameters" list`},
		{"no name", `{"configuration-parameters": [{"restart_required": false, "type": "string"}]}`, `configuration-parameters[0]: "name" is missing or empty`},
		{"no restart_required", `{"configuration-parameters": [{"name": "a", "type": "string"}]}`, `configuration-parameters[0] (a): "restart_required" is missing`},
		{"no type", `{"configuration-parameters": [{"name": "a", "restart_required": true}]}`, `"type" is missing`},
		{"unknown type", `{"configuration-parameters": [{"name": "a", "restart_required": true, "type": "int"}]}`, `type "int" is not one of boolean, string, integer, float`},
		{"bound not a number", `{"configuration-parameters": [{"name": "a", "restart_required": true, "type": "integer", "max": "lots"}]}`, "invalid number literal"},
		{"fraction of an integer", `{"configuration-parameters": [{"name": "a", "restart_required": true, "type": "integer", "min": 1.5}]}`, "min 1.5 of an integer parameter is not an integer"},
		{"min > max", `{"configuration-parameters": [{"name": "a", "restart_required": true, "type": "integer", "min": 2, "max": 1}]}`, "min 2 is greater than max 1"},
		{"twice", `{"configuration-parameters": [{"name": "ok", "restart_required": false, "type": "string"},
			{"name": "max_connections", "restart_required": false, "type": "string"},
			{"name": "MAX_CONNECTIONS", "restart_required": false, "type": "string"}]}`, "configuration-parameters[2] (MAX_CONNECTIONS): the name is also configuration-parameters[1]"},
	}
	for _, b := range bad {
		file := write(strings.ReplaceAll(b.name, " ", "_")+".json", b.text)
		r := load(file)
		if r.code != 1 || !strings.Contains(r.stderr, "trove-manage db_load_datastore_config_parameters: "+file+": ") || !strings.Contains(r.stderr, b.stderr) {
			t.Errorf("%s: %+v, want exit 1 and %q", b.name, r, b.stderr)
		}
	}
	if got := rows(); got != want {
		t.Fatalf("a failed load changed the rows:\n%s\nwant\n%s", got, want)
	}

	failures := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"missing file", []string{"mariadb", "10.11", filepath.Join(dir, "missing.json")}, 1, "no such file or directory"},
		{"unknown version", []string{"mariadb", "10.6", first}, 1, "Datastore version '10.6' cannot be found."},
		{"unknown version number", []string{"mariadb", "10.11", first, "--version", "10.11.99"}, 1, "Datastore version '10.11.99' cannot be found."},
		{"unknown datastore", []string{"oracle", "19", first}, 1, "Datastore 'oracle' cannot be found."},
		{"missing argument", []string{"mariadb", "10.11"}, 2, "the following arguments are required: config_file_location"},
	}
	for _, f := range failures {
		r := run(t, append([]string{"--config-file", conf, "db_load_datastore_config_parameters"}, f.args...)...)
		if r.code != f.code || !strings.Contains(r.stderr, f.stderr) {
			t.Errorf("%s: %+v, want exit %d and %q", f.name, r, f.code, f.stderr)
		}
	}
	if got := rows(); got != want {
		t.Fatalf("a failed load changed the rows:\n%s\nwant\n%s", got, want)
	}

	// The inactive mysql 10.11 takes the rules; db_remove_datastore_config_parameters removes them.
	if r := run(t, "--config-file", conf, "db_load_datastore_config_parameters", "mysql", "10.11", first); r.code != 0 {
		t.Fatalf("inactive version: %+v", r)
	}
	_, iv, err := d.FindVersionNumber(t.Context(), "mysql", "10.11", "")
	if err != nil || iv.Active {
		t.Fatalf("inactive version: %+v %v", iv, err)
	}
	if ps, err := d.ConfigParams(t.Context(), iv.ID); err != nil || len(ps) != 3 {
		t.Fatalf("inactive version rows: %v %v", ps, err)
	}
}
