package main

// End-to-end: the real trove-api binary against the real Keystone and MariaDB, driven by Debian's `openstack`
// CLI (python3-troveclient plugin) exactly as a user would. The CLI finds the API through the Keystone catalog,
// so the test registers a `database` endpoint in a region of its own and removes it afterwards.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/testenv"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trove-api-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "trove-api")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building trove-api:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs /usr/bin/openstack as one of the test users and returns stdout; failures return the error output.
type cli struct {
	t             *testing.T
	authURL, pw   string
	region        string
	adminPassword string
}

func (c cli) run(user string, args ...string) (string, error) {
	c.t.Helper()
	project, pw := user, c.pw
	switch user {
	case "admin":
		pw = c.adminPassword
	case "demoreader":
		project = "demo"
	}
	cmd := exec.Command("/usr/bin/openstack", args...)
	cmd.Env = append(os.Environ(), "OS_AUTH_URL="+c.authURL, "OS_USERNAME="+user, "OS_PASSWORD="+pw,
		"OS_PROJECT_NAME="+project, "OS_USER_DOMAIN_NAME=Default", "OS_PROJECT_DOMAIN_NAME=Default",
		"OS_IDENTITY_API_VERSION=3", "OS_REGION_NAME="+c.region, "OS_INTERFACE=public")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("openstack %s as %s: %v: %s", strings.Join(args, " "), user, err, errOut.String())
	}
	return out.String(), nil
}

func (c cli) json(user string, v any, args ...string) {
	c.t.Helper()
	out, err := c.run(user, append(args, "-f", "json")...)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("openstack %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// seedCatalog migrates a fresh database and registers mysql 8.0 (active, default).
func seedCatalog(t testing.TB) (string, *catalog.DB) {
	t.Helper()
	dsn := testenv.NewDatabase(t)
	db, err := catalog.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateDatastore(ctx, "mysql", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateDatastoreVersion(ctx, catalog.VersionUpdate{Datastore: "mysql", Name: "8.0", Version: "8.0.36", Manager: "mysql",
		ImageID: "local-mysql-8.0", Active: true, RegistryExt: catalog.DefaultRegistryExt("mysql"), ReplStrategy: catalog.DefaultReplStrategy("mysql", "", "")}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateDatastore(ctx, "mysql", "8.0"); err != nil {
		t.Fatal(err)
	}
	_, v, err := db.FindVersion(ctx, "mysql", "8.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.UpsertConfigParams(ctx, v.ID, []catalog.ConfigParam{
		{Name: "max_connections", DataType: "integer", MinSize: "1", MaxSize: "100000"},
		{Name: "autocommit", DataType: "boolean"},
	}); err != nil {
		t.Fatal(err)
	}
	return dsn, db
}

// startAPI writes trove.conf and runs the binary until the test ends (debug logs each request).
// benchOptions are [DEFAULT] lines BenchmarkAPI takes from the environment: TROVE_BENCH_PPROF_BIND →
// debug_pprof_bind, TROVE_BENCH_LIST_CACHE_TTL → instance_list_cache_ttl.
func benchOptions() string {
	var lines []string
	for env, opt := range map[string]string{"TROVE_BENCH_PPROF_BIND": "debug_pprof_bind", "TROVE_BENCH_LIST_CACHE_TTL": "instance_list_cache_ttl"} {
		if v := os.Getenv(env); v != "" {
			lines = append(lines, opt+" = "+v)
		}
	}
	return strings.Join(lines, "\n")
}

// startAPI starts the built trove-api on the catalog dsn; its local compute driver reads localStateDir.
func startAPI(t testing.TB, dsn, localStateDir string) (string, *exec.Cmd) {
	t.Helper()
	return startAPIBinary(t, binary, dsn, localStateDir)
}

// startAPIBinary is startAPI with another trove-api binary (the benchmark's baseline); extra are more [DEFAULT]
// option lines.
func startAPIBinary(t testing.TB, binary, dsn, localStateDir string, extra ...string) (string, *exec.Cmd) {
	t.Helper()
	_, isBench := t.(*testing.B)
	debug := !isBench
	port := freePort(t)
	dir := t.TempDir()
	conf := fmt.Sprintf(`[DEFAULT]
bind_host = 127.0.0.1
bind_port = %d
transport_url = %s
control_exchange = trove
taskmanager_queue = %s
debug = %t
%s
%s

[database]
connection = %s

[keystone_authtoken]
auth_url = %s
www_authenticate_uri = %s
username = trove
password = %s
project_name = service
user_domain_name = Default
project_domain_name = Default

[oslo_policy]
policy_file = %s

[healthcheck]
disable_by_file_path = %s

[local]
state_dir = %s
`, port, testenv.TransportURL(t), testenv.UniqueName(t, "taskmanager-test"), debug, benchOptions(), strings.Join(extra, "\n"), dsn, testenv.KeystoneURL(t), testenv.KeystoneURL(t),
		testenv.Get(t, testenv.ServicePassword), filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "healthcheck_disable"), localStateDir)
	confPath := filepath.Join(dir, "trove.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "trove-api.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "--config-file", confPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test process dies (e.g. killed by a closed pipe), the server goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		logFile.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("trove-api log:\n%s", data)
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthcheck")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, cmd
			}
		}
		select {
		case err := <-exited:
			data, _ := os.ReadFile(logPath)
			t.Fatalf("trove-api exited: %v\n%s", err, data)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("trove-api did not answer /healthcheck within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keystoneAdmin sends one request to Keystone's v3 API with token and decodes the JSON answer into out.
func keystoneAdmin(t testing.TB, token, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, testenv.KeystoneURL(t)+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("keystone %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("keystone %s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("keystone %s %s: %v", method, path, err)
		}
	}
}

// registerEndpoint creates a region of the test's own with public `identity` (Keystone itself) and `database`
// (this trove-api) endpoints through Keystone's API, and removes them at cleanup.
func registerEndpoint(t *testing.T, c cli, base string) {
	t.Helper()
	token, _ := keystoneToken(t, "admin", "admin", c.adminPassword)
	keystoneAdmin(t, token, "POST", "/regions", map[string]any{"region": map[string]string{"id": c.region}}, nil)
	t.Cleanup(func() { keystoneAdmin(t, token, "DELETE", "/regions/"+c.region, nil, nil) })
	var services struct {
		Services []struct{ ID, Type string } `json:"services"`
	}
	keystoneAdmin(t, token, "GET", "/services", nil, &services)
	ids := map[string]string{}
	for _, s := range services.Services {
		ids[s.Type] = s.ID
	}
	if ids["database"] == "" || ids["identity"] == "" {
		t.Fatalf("Keystone has no database or identity service (%v): run deploy/test-env.sh", ids)
	}
	for typ, url := range map[string]string{"identity": c.authURL, "database": base + "/v1.0/%(project_id)s"} {
		var ep struct {
			Endpoint struct{ ID string } `json:"endpoint"`
		}
		keystoneAdmin(t, token, "POST", "/endpoints", map[string]any{"endpoint": map[string]string{
			"service_id": ids[typ], "interface": "public", "url": url, "region_id": c.region}}, &ep)
		t.Cleanup(func() { keystoneAdmin(t, token, "DELETE", "/endpoints/"+ep.Endpoint.ID, nil, nil) })
	}
}

func TestOpenstackCLI(t *testing.T) {
	dsn, db := seedCatalog(t)
	base, _ := startAPI(t, dsn, t.TempDir())
	c := cli{t: t, authURL: testenv.KeystoneURL(t), pw: testenv.Get(t, testenv.DemoPassword),
		adminPassword: testenv.Get(t, testenv.KeystoneAdminPassword), region: testenv.UniqueName(t, "TestRegion")}
	registerEndpoint(t, c, base)

	var datastores []map[string]any
	c.json("demo", &datastores, "datastore", "list")
	if len(datastores) != 1 || datastores[0]["Name"] != "mysql" {
		t.Fatalf("datastore list: %v", datastores)
	}
	var versions []map[string]any
	c.json("demo", &versions, "datastore", "version", "list", "mysql")
	if len(versions) != 1 || versions[0]["Name"] != "8.0" {
		t.Fatalf("datastore version list: %v", versions)
	}
	var flavors []map[string]any
	c.json("demo", &flavors, "database", "flavor", "list")
	if len(flavors) != 2 || flavors[0]["Name"] != "tiny" {
		t.Fatalf("flavor list: %v", flavors)
	}

	var created map[string]any
	c.json("demo", &created, "database", "instance", "create", "db1", "--flavor", "1", "--size", "1",
		"--datastore", "mysql", "--datastore-version", "8.0", "--databases", "app", "--users", "appuser:s3cret")
	id, _ := created["id"].(string)
	if id == "" || created["status"] != "BUILD" || created["name"] != "db1" {
		t.Fatalf("instance create: %v", created)
	}
	row, err := db.GetInstance(context.Background(), id)
	if err != nil || len(row.EncryptedKey) != 88 || row.TaskID != status.TaskBuilding.Code {
		t.Fatalf("instance row %+v (%v)", row, err)
	}

	var list []map[string]any
	c.json("demo", &list, "database", "instance", "list")
	if len(list) != 1 || list[0]["ID"] != id || list[0]["Status"] != "BUILD" {
		t.Fatalf("instance list: %v", list)
	}
	var shown map[string]any
	c.json("demo", &shown, "database", "instance", "show", "db1") // by name: the CLI falls back to the list
	if shown["id"] != id || shown["datastore"] != "mysql" || shown["datastore_version"] != "8.0" {
		t.Fatalf("instance show: %v", shown)
	}
	for _, k := range []string{"server_id", "tenant_id", "encrypted_rpc_messaging"} {
		if _, ok := shown[k]; ok {
			t.Errorf("demo sees admin-only field %s", k)
		}
	}

	// Another project cannot see it; a reader cannot create.
	// The API answers 404 for the id; the CLI then searches demo2's list by name and reports it missing.
	if out, err := c.run("demo2", "database", "instance", "show", id); err == nil || !strings.Contains(err.Error(), "No instance with a name or ID of '"+id+"' exists.") {
		t.Errorf("demo2 show of demo's instance: %v %s", err, out)
	}
	if _, err := c.run("demoreader", "database", "instance", "create", "nope", "--flavor", "1", "--size", "1", "--datastore", "mysql"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("demoreader create: %v", err)
	}

	// Only an admin sees the admin-only fields.
	var adminShown map[string]any
	c.json("admin", &adminShown, "database", "instance", "show", id)
	if adminShown["encrypted_rpc_messaging"] != true || adminShown["tenant_id"] != row.TenantID {
		t.Errorf("admin show: %v", adminShown)
	}

	// An admin lists every project's instances (mgmt API).
	var all []map[string]any
	c.json("admin", &all, "database", "instance", "list", "--all-projects")
	if len(all) != 1 || all[0]["ID"] != id || all[0]["Tenant ID"] != row.TenantID {
		t.Errorf("instance list --all-projects: %v", all)
	}
	if _, err := c.run("demo", "database", "instance", "list", "--all-projects"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("demo instance list --all-projects: %v", err)
	}

	// Configuration groups and their parameters.
	var params []map[string]any
	c.json("demo", &params, "database", "configuration", "parameter", "list", "8.0", "--datastore", "mysql")
	if len(params) != 2 {
		t.Errorf("configuration parameter list: %v", params)
	}
	var group map[string]any
	c.json("demo", &group, "database", "configuration", "create", "tuned", `{"max_connections": 150}`, "--datastore", "mysql", "--datastore-version", "8.0")
	if group["name"] != "tuned" || !strings.Contains(fmt.Sprint(group["values"]), "150") {
		t.Errorf("configuration create: %v", group)
	}
	var groups []map[string]any
	c.json("demo", &groups, "database", "configuration", "list")
	if len(groups) != 1 || groups[0]["ID"] != group["id"] {
		t.Errorf("configuration list: %v", groups)
	}
	if out, err := c.run("demo", "database", "configuration", "create", "bad", `{"max_connections": 0}`, "--datastore", "mysql"); err == nil || !strings.Contains(err.Error(), "422") {
		t.Errorf("configuration create below the minimum: %v %s", err, out)
	}
	if _, err := c.run("demo", "database", "configuration", "delete", group["id"].(string)); err != nil {
		t.Error(err)
	}

	// troveclient prints the absolute limits as a table of its own, then the (empty) rate-limit list.
	out, err := c.run("demo", "database", "limit", "list", "-f", "json")
	if err != nil || !strings.Contains(out, "| max_instances | 10 ") || !strings.Contains(out, "| verb          | ABSOLUTE |") {
		t.Errorf("limit list: %v\n%s", err, out)
	}

	var quotas []map[string]any
	c.json("admin", &quotas, "database", "quota", "show", "demo")
	if len(quotas) != 4 || quotas[0]["Resource"] != "instances" || quotas[0]["In Use"] != 1.0 || quotas[0]["Limit"] != 10.0 {
		t.Errorf("quota show: %v", quotas)
	}
	var updated map[string]any
	c.json("admin", &updated, "database", "quota", "update", "demo", "instances", "20")
	if updated["instances"] != 20.0 {
		t.Errorf("quota update: %v", updated)
	}
	if _, err := c.run("demo", "database", "quota", "update", "demo", "instances", "30"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("non-admin quota update: %v", err)
	}

	// Play the taskmanager: the build finished. Then delete through the CLI.
	ctx := context.Background()
	if err := db.SetServer(ctx, id, "local-"+id[:8], ""); err != nil {
		t.Fatal(err)
	}
	if err := db.SetTask(ctx, id, status.TaskNone); err != nil {
		t.Fatal(err)
	}
	if _, err := c.run("demo", "database", "instance", "delete", id); err != nil {
		t.Fatal(err)
	}
	c.json("demo", &shown, "database", "instance", "show", id)
	if shown["status"] != "SHUTDOWN" {
		t.Errorf("status after delete: %v", shown["status"])
	}
}

// The binary refuses to serve a catalog that has not been migrated (trove-manage db_sync is a separate step).
func TestRefusesOldSchema(t *testing.T) {
	dsn := testenv.NewDatabase(t) // empty: no migrations applied
	conf := filepath.Join(t.TempDir(), "trove.conf")
	text := fmt.Sprintf("[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = %d\n[database]\nconnection = %s\n", freePort(t), dsn)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "--config-file", conf).CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "db_sync") {
		t.Fatalf("trove-api on an empty catalog: %v\n%s", err, out)
	}
}
