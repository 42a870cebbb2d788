package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/testenv"
)

// configurationCase is one datastore of issue 15: a dynamic and a static parameter of its validation rules, the
// values a group gives them, the defaults they return to, and how to read a setting from the server.
type configurationCase struct {
	datastore             string
	dynamic, static       string
	dynValue, statValue   any
	dynShown, statShown   string // as the server shows them
	dynDefault, statDflt  string
	dynChanged, dynChange string // a group change (JSON value) and how the server shows it
	read                  func(host, user, password, name string) (string, error)
}

var configurationCases = []configurationCase{
	{
		datastore: "mariadb", dynamic: "max_connections", static: "innodb_log_buffer_size",
		dynValue: 555, statValue: 33554432, dynShown: "555", statShown: "33554432", dynDefault: "151", statDflt: "16777216",
		dynChange: "666", dynChanged: "666",
		read: func(host, user, password, name string) (string, error) {
			out, err := exec.Command("mariadb", "-h", host, "-u", user, "-p"+password, "--connect-timeout=10", "-N", "-B",
				"-e", "SHOW GLOBAL VARIABLES LIKE '"+name+"'").CombinedOutput()
			f := strings.Fields(string(out))
			if err != nil || len(f) != 2 {
				return string(out), errOrOutput(err, out)
			}
			return f[1], nil
		},
	},
	{
		datastore: "postgresql", dynamic: "work_mem", static: "max_connections",
		dynValue: "8MB", statValue: 101, dynShown: "8MB", statShown: "101", dynDefault: "4MB", statDflt: "50",
		dynChange: `"16MB"`, dynChanged: "16MB",
		read: func(host, user, password, name string) (string, error) {
			cmd := exec.Command("psql", "-h", host, "-U", user, "-d", "app", "-w", "-X", "-tA", "-c", "SHOW "+name)
			cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10")
			out, err := cmd.CombinedOutput()
			if err != nil {
				return string(out), errOrOutput(err, out)
			}
			return strings.TrimSpace(string(out)), nil
		},
	},
}

// Issue 15: configuration groups reach the running server through `openstack database configuration …`.
func TestConfigurationGroups(t *testing.T) {
	t.Parallel()
	for _, tc := range configurationCases {
		t.Run(tc.datastore, func(t *testing.T) {
			t.Parallel()
			testConfigurationGroup(t, tc)
		})
	}
}

func testConfigurationGroup(t *testing.T, tc configurationCase) {
	c := demo(t)
	version := c.datastoreVersion(tc.datastore)
	password := newPassword(t, "Cfg")
	// two instances, built side by side
	var ids [2]string
	var insts [2]instance
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = c.createInstance(testenv.UniqueName(t, "cfg"), "--flavor", c.smallFlavor(), "--size", "1",
			"--datastore", tc.datastore, "--datastore-version", version, "--databases", "app", "--users", "app:"+password).ID
	}
	for i := range ids {
		wg.Add(1)
		go func(i int) { defer wg.Done(); insts[i] = c.waitActive(ids[i], buildTimeout) }(i)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	read := func(i int, name string) string {
		t.Helper()
		var v string
		var err error
		ok, _ := waitFor(30*time.Second, time.Second, func() (bool, string) {
			v, err = tc.read(insts[i].address(), "app", password, name)
			return err == nil, v
		})
		if !ok {
			t.Fatalf("reading %s from instance %d: %v %s", name, i, err, v)
		}
		return v
	}
	expect := func(when string, i int, name, want string) {
		t.Helper()
		if got := read(i, name); got != want {
			t.Errorf("%s: instance %d: %s = %q, want %q", when, i, name, got, want)
		}
	}
	expect("before", 0, tc.dynamic, tc.dynDefault)
	expect("before", 0, tc.static, tc.statDflt)

	// invalid values: Trove's 422 messages, nothing written
	group := testenv.UniqueName(t, "grp")
	for _, bad := range []struct{ values, msg string }{
		{`{"` + tc.static + `": 0}`, "The value for the configuration parameter " + tc.static + " is less than the minimum allowed"},
		{`{"` + tc.static + `": "1"}`, "The value provided for the configuration parameter " + tc.static + " is not of type integer."},
		{`{"no_such_parameter": 1}`, "The configuration parameter no_such_parameter is not supported for this datastore: " + tc.datastore + " " + version + "."},
	} {
		out, err := c.run("database", "configuration", "create", group, bad.values, "--datastore", tc.datastore, "--datastore-version", version)
		if err == nil || !strings.Contains(out, bad.msg) || !strings.Contains(out, "422") {
			t.Errorf("create %s: want 422 %q, got %v\n%s", bad.values, bad.msg, err, out)
		}
	}
	if out := c.must("database", "configuration", "list"); strings.Contains(out, group) {
		t.Fatalf("a refused group was created:\n%s", out)
	}

	values, _ := json.Marshal(map[string]any{tc.dynamic: tc.dynValue, tc.static: tc.statValue})
	var cfg struct {
		ID string `json:"id"`
	}
	c.json(&cfg, "database", "configuration", "create", group, string(values), "--datastore", tc.datastore, "--datastore-version", version)
	t.Cleanup(func() { _, _ = c.run("database", "configuration", "delete", cfg.ID) })

	// attach: the dynamic value at once, the static one after a restart (RESTART_REQUIRED until then)
	c.must("database", "configuration", "attach", ids[0], cfg.ID)
	expect("attached", 0, tc.dynamic, tc.dynShown)
	expect("attached", 0, tc.static, tc.statDflt)
	if i := c.show(ids[0]); i.Status != "RESTART_REQUIRED" {
		t.Errorf("attached: status %s, want RESTART_REQUIRED", i)
	}
	var shown map[string]any
	c.json(&shown, "database", "instance", "show", ids[0])
	if shown["configuration"] != cfg.ID {
		t.Errorf("instance show: configuration %v, want %s", shown["configuration"], cfg.ID)
	}
	c.must("database", "instance", "restart", ids[0])
	insts[0] = c.waitActive(ids[0], actionTimeout)
	expect("restarted", 0, tc.dynamic, tc.dynShown)
	expect("restarted", 0, tc.static, tc.statShown)
	var def map[string]any
	c.json(&def, "database", "configuration", "default", ids[0])
	if v := def[tc.dynamic]; v == nil || strings.Trim(string(mustJSON(v)), `"`) != strings.Trim(string(mustJSON(tc.dynValue)), `"`) {
		t.Errorf("configuration default: %s = %v", tc.dynamic, v)
	}

	// a group change reaches every instance using it
	c.must("database", "configuration", "attach", ids[1], cfg.ID)
	c.must("database", "instance", "restart", ids[1])
	insts[1] = c.waitActive(ids[1], actionTimeout)
	// (this client's `configuration set` sends PUT: the whole value set, the static value unchanged)
	c.must("database", "configuration", "set", cfg.ID, `{"`+tc.dynamic+`": `+tc.dynChange+`, "`+tc.static+`": `+string(mustJSON(tc.statValue))+`}`)
	expect("group changed", 0, tc.dynamic, tc.dynChanged)
	expect("group changed", 1, tc.dynamic, tc.dynChanged)
	for i := range ids {
		if s := c.show(ids[i]); s.Status != "ACTIVE" {
			t.Errorf("a dynamic change needs no restart: instance %d %s", i, s)
		}
	}
	var users []struct {
		ID string `json:"ID"`
	}
	c.json(&users, "database", "configuration", "instances", cfg.ID)
	if len(users) != 2 {
		t.Errorf("configuration instances: %+v", users)
	}
	// an invalid change writes nothing and reaches no instance
	if out, err := c.run("database", "configuration", "set", cfg.ID, `{"`+tc.static+`": -1}`); err == nil || !strings.Contains(out, "422") {
		t.Errorf("invalid set accepted: %v\n%s", err, out)
	}
	expect("refused change", 1, tc.static, tc.statShown)

	// detach: the dynamic value returns at once, the static one after the restart
	c.must("database", "configuration", "detach", ids[0])
	expect("detached", 0, tc.dynamic, tc.dynDefault)
	c.must("database", "instance", "restart", ids[0])
	insts[0] = c.waitActive(ids[0], actionTimeout)
	expect("detached and restarted", 0, tc.static, tc.statDflt)
	expect("detached and restarted", 0, tc.dynamic, tc.dynDefault)
	expect("other instance", 1, tc.static, tc.statShown)
	c.must("database", "configuration", "detach", ids[1])
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func errOrOutput(err error, out []byte) error {
	if err != nil {
		return err
	}
	return &outputError{string(out)}
}

type outputError struct{ s string }

func (e *outputError) Error() string { return "unexpected output: " + e.s }
