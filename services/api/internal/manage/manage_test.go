package manage_test

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trove-go/trove/db"
	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/testenv"
)

var binary string

// TestMain builds trove-manage once; the tests run the real binary against a real MariaDB database.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trove-manage-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "trove-manage")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/trove-manage")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building trove-manage:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// setup writes a trove.conf whose [database] connection is an oslo.db URL of a fresh database.
func setup(t *testing.T) (conf string, dsn string) {
	t.Helper()
	dsn = testenv.NewDatabase(t)
	cfg, err := catalog.ParseConnection(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "mysql+pymysql", User: url.UserPassword(cfg.User, cfg.Passwd), Host: cfg.Addr, Path: "/" + cfg.DBName, RawQuery: "charset=utf8"}
	conf = filepath.Join(t.TempDir(), "trove.conf")
	text := "[DEFAULT]\ncontrol_exchange = trove\n\n[database]\nconnection = " + u.String() + "\n\n[mariadb]\nreplication_strategy = CustomReplication\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf, dsn
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func TestTroveManage(t *testing.T) {
	t.Parallel()
	conf, dsn := setup(t)
	rules := filepath.Join(t.TempDir(), "validation-rules.json")
	os.WriteFile(rules, []byte(`{"configuration-parameters": [
		{"name": "max_connections", "restart_required": false, "max": 100000, "min": 1, "type": "integer"},
		{"name": "innodb_flush_log_at_trx_commit", "restart_required": false, "type": "integer"},
		{"name": "long_query_time", "restart_required": false, "min": 0.5, "max": 10.0, "type": "float"},
		{"name": "innodb_buffer_pool_size", "restart_required": true, "max": 68719476736, "min": 0, "type": "integer"}]}`), 0o600)
	atHead := fmt.Sprintf("Catalog schema is at version %d.\n", db.Head)
	steps := []struct {
		name   string
		args   []string
		code   int
		stdout string // exact, when set
		stderr string // substring, when set
	}{
		{"version of an empty catalog", []string{"db_version"}, 0, "0\n", ""},
		{"db_sync", []string{"db_sync"}, 0, atHead, ""},
		{"db_sync is idempotent", []string{"db_sync", "--repo_path", "/ignored"}, 0, atHead, ""},
		{"db_version", []string{"db_version"}, 0, fmt.Sprintf("%d\n", db.Head), ""},
		{"no downgrade", []string{"db_upgrade", "--version", "3"}, 1, "", "downgrades are not supported"},
		{"bad target", []string{"db_upgrade", "--version", "abc"}, 2, "", "neither a migration number"},
		{"db_upgrade to alembic head", []string{"db_upgrade", "--version", "95418fe2a1c8"}, 0, atHead, ""},
		{"datastore", []string{"datastore_update", "mysql", ""}, 0, "Datastore 'mysql' updated.\n", ""},
		{"version with tags", []string{"datastore_version_update", "mysql", "8.0", "mysql", "", "", "1", "--image-tags", "trove,mysql"}, 0, "Datastore version '8.0(8.0)' updated.\n", ""},
		{"default version", []string{"datastore_update", "mysql", "8.0"}, 0, "Datastore 'mysql' updated.\n", ""},
		{"same name, other number, inactive", []string{"datastore_version_update", "--version=8.0.36", "mysql", "8.0", "mysql", "9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d", "", "false"}, 0, "Datastore version '8.0(8.0.36)' updated.\n", ""},
		{"unknown default version", []string{"datastore_update", "mysql", "9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"}, 1, "", "cannot be found"},
		{"ambiguous flavor add", []string{"datastore_version_flavor_add", "mysql", "8.0", "1,2"}, 1, "", "Multiple datastore versions found for '8.0'"},
		{"flavor add", []string{"datastore_version_flavor_add", "mysql", "8.0", "1,2", "--version", "8.0"}, 0, "Added flavors '1,2' to the 'mysql' '8.0'.\n", ""},
		{"flavor add again", []string{"datastore_version_flavor_add", "mysql", "8.0", "2", "--version", "8.0"}, 1, "", "Flavor 2 is already associated"},
		{"flavor delete", []string{"datastore_version_flavor_delete", "mysql", "8.0", "1", "--version", "8.0"}, 0, "Deleted flavor '1' from 'mysql' '8.0'.\n", ""},
		{"flavor delete missing", []string{"datastore_version_flavor_delete", "mysql", "8.0", "1", "--version", "8.0"}, 1, "", "Flavor 1 is not supported"},
		{"volume types none", []string{"datastore_version_volume_type_list", "mysql", "8.0", "--version", "8.0"}, 0, "No Volume Type Associations found for Datastore: mysql, Version: 8.0.\n", ""},
		{"volume type add", []string{"datastore_version_volume_type_add", "mysql", "8.0", "ssd", "--version", "8.0"}, 0, "Added volume type 'ssd' to the 'mysql' '8.0'.\n", ""},
		{"volume types", []string{"datastore_version_volume_type_list", "mysql", "8.0", "--version", "8.0"}, 0, "Datastore: mysql, Version: 8.0, Volume Type: ssd\n", ""},
		{"missing datastore", []string{"datastore_version_update", "nope", "1", "mysql", "img", "", "1"}, 1, "", "Datastore 'nope' cannot be found."},
		{"bad active", []string{"datastore_version_update", "mysql", "8.0", "mysql", "img", "", "maybe"}, 2, "", "argument ACTIVE: invalid value"},
		{"no image", []string{"datastore_version_update", "mysql", "8.1", "mysql", "", "", "1"}, 1, "", "give an image id or --image-tags"},
		{"unknown manager", []string{"datastore_version_update", "mysql", "x", "redis", "img", "", "1"}, 1, "", "give --registry-ext and --repl-strategy"},
		{"mariadb strategy from config", []string{"datastore_update", "mariadb", ""}, 0, "Datastore 'mariadb' updated.\n", ""},
		{"mariadb version", []string{"datastore_version_update", "mariadb", "10.11", "mariadb", "img", "pkg1,pkg2", "1"}, 0, "Datastore version '10.11(10.11)' updated.\n", ""},
		{"load config params", []string{"db_load_datastore_config_parameters", "mysql", "8.0", rules, "--version", "8.0"}, 0, "Loading config parameters for datastore (mysql) version (8.0)\n", ""},
		{"load config params again", []string{"db_load_datastore_config_parameters", "mysql", "8.0", rules, "--version", "8.0"}, 0, "Loading config parameters for datastore (mysql) version (8.0)\n", ""},
		{"load config params, bad file", []string{"db_load_datastore_config_parameters", "mysql", "8.0", conf, "--version", "8.0"}, 1, "", "invalid character"},
		{"missing argument", []string{"datastore_update", "mysql"}, 2, "", "the following arguments are required: default_version"},
		{"unknown option", []string{"db_sync", "--bogus"}, 2, "", "unrecognized argument: --bogus"},
		{"unknown command", []string{"db_downgrade", "1"}, 2, "", "invalid choice"},
	}
	for _, s := range steps {
		r := run(t, append([]string{"--config-file", conf}, s.args...)...)
		if r.code != s.code || (s.stdout != "" && r.stdout != s.stdout) || !strings.Contains(r.stderr, s.stderr) {
			t.Fatalf("%s: trove-manage %s\nexit %d, want %d\nstdout %q, want %q\nstderr %q, want ⊇ %q",
				s.name, strings.Join(s.args, " "), r.code, s.code, r.stdout, s.stdout, r.stderr, s.stderr)
		}
	}

	// The rows the commands wrote, checked through the catalog.
	d, err := catalog.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ds, v, err := d.FindVersionNumber(t.Context(), "mysql", "8.0", "8.0")
	if err != nil || ds.DefaultVersionID != v.ID || v.ImageTags != "trove,mysql" || !v.Active || v.ImageID != "" ||
		v.RegistryExt != "trove.guestagent.datastore.mysql.manager.Manager" ||
		v.ReplStrategy != "trove.guestagent.strategies.replication.mysql_gtid.MysqlGTIDReplication" {
		t.Fatalf("mysql 8.0: %+v %+v %v", ds, v, err)
	}
	if fl, _ := d.VersionFlavors(t.Context(), v.ID); fmt.Sprint(fl) != "[2]" {
		t.Fatalf("flavors %v", fl)
	}
	_, mv, err := d.FindVersion(t.Context(), "mariadb", "10.11")
	if err != nil || mv.Packages != "pkg1,pkg2" || mv.ReplStrategy != "trove.guestagent.strategies.replication.mariadb_gtid.CustomReplication" {
		t.Fatalf("mariadb: %+v %v", mv, err)
	}
	params, err := d.ConfigParams(t.Context(), v.ID)
	if err != nil || len(params) != 4 {
		t.Fatalf("config params %+v %v", params, err)
	}
	got := fmt.Sprintf("%s %v %s %s | %s %s %s %s", params[0].Name, params[0].RestartRequired, params[0].MaxSize, params[0].MinSize, params[2].Name, params[2].MaxSize, params[2].MinSize, params[2].DataType)
	if got != "innodb_buffer_pool_size true 68719476736 0 | long_query_time 10.0 0.5 float" {
		t.Fatalf("config params: %s", got)
	}
	if r := run(t, "--config-file", conf, "db_remove_datastore_config_parameters", "mysql", "8.0", "--version", "8.0"); r.code != 0 {
		t.Fatalf("remove: %+v", r)
	}
	if params, _ := d.ConfigParams(t.Context(), v.ID); len(params) != 0 {
		t.Fatalf("left after remove: %v", params)
	}
	// The id form of flavor add (DATASTORE_VERSION_ID FLAVOR_IDS).
	r := run(t, "--config-file", conf, "datastore_version_flavor_add", mv.ID, "5")
	if r.code != 0 || r.stdout != "Added flavors '5' to the 'mariadb' '10.11'.\n" {
		t.Fatalf("id form: %+v", r)
	}
	// db_recreate empties the catalog.
	r = run(t, "--config-file", conf, "db_recreate")
	if r.code != 0 || r.stdout != atHead {
		t.Fatalf("db_recreate: %+v", r)
	}
	if dss, err := d.ListDatastores(t.Context()); err != nil || len(dss) != 0 {
		t.Fatalf("after db_recreate: %v %v", dss, err)
	}
}

func TestTroveManageConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.conf")
	os.WriteFile(empty, []byte("[DEFAULT]\n"), 0o600)
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("[database]\nconnection = sqlite:///trove.db\n"), 0o600)
	wrongPw := filepath.Join(dir, "pw.conf")
	os.WriteFile(wrongPw, []byte("[database]\nconnection = mysql+pymysql://nobody:wrong@127.0.0.1:3306/trove\n"), 0o600)
	cases := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"--config-file", filepath.Join(dir, "missing.conf"), "db_sync"}, 1, "missing.conf"},
		{[]string{"--config-file", empty, "db_sync"}, 1, "[database] connection is not set"},
		{[]string{"--config-file", bad, "db_version"}, 1, `scheme "sqlite" is not supported`},
		{[]string{"--config-file", wrongPw, "db_version"}, 1, "check [database] connection"},
		{[]string{"--config-file"}, 2, "expected one argument"},
		{[]string{}, 2, "a command is required"},
	}
	for _, c := range cases {
		r := run(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.stderr) {
			t.Errorf("trove-manage %v: exit %d stderr %q; want %d ⊇ %q", c.args, r.code, r.stderr, c.code, c.stderr)
		}
		if strings.Contains(r.stderr, "wrong") {
			t.Errorf("password leaked: %q", r.stderr)
		}
	}
	for _, args := range [][]string{{"--help"}, {"db_sync", "--help"}, {"-h", "datastore_version_update"}} {
		r := run(t, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: trove-manage") {
			t.Errorf("%v: %+v", args, r)
		}
	}
}
