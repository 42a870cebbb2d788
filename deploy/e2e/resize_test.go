package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/testenv"
)

// resizeCase is one datastore of issue 15's flavor resize and access update.
type resizeCase struct {
	datastore, setting string
	port               int
	before, after      string // the memory-derived setting as the server shows it on m1.tiny (512 MB), m1.small (1024 MB)
	sql                func(host, user, password string, stmts ...string) (string, error)
}

var resizeCases = []resizeCase{
	{datastore: "mariadb", setting: "innodb_buffer_pool_size", port: 3306, before: "157286400", after: "314572800",
		sql: func(host, user, password string, stmts ...string) (string, error) {
			out, err := exec.Command("mariadb", "-h", host, "-u", user, "-p"+password, "--connect-timeout=10", "-N", "-B", "app",
				"-e", strings.Join(stmts, ";")).CombinedOutput()
			return strings.TrimSpace(string(out)), failedWith(err, out)
		}},
	{datastore: "postgresql", setting: "shared_buffers", port: 5432, before: "51MB", after: "102MB",
		sql: func(host, user, password string, stmts ...string) (string, error) {
			cmd := exec.Command("psql", "-h", host, "-U", user, "-d", "app", "-w", "-X", "-tA", "-c", strings.Join(stmts, ";"))
			cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10")
			out, err := cmd.CombinedOutput()
			return strings.TrimSpace(string(out)), failedWith(err, out)
		}},
}

// Issue 15: `openstack database instance resize flavor` and `instance update --is-private --allowed-cidr` on
// MariaDB and PostgreSQL, against the running deployment (local driver, isolated instances).
func TestResizeFlavorAndAccess(t *testing.T) {
	t.Parallel()
	for _, tc := range resizeCases {
		t.Run(tc.datastore, func(t *testing.T) {
			t.Parallel()
			testResizeAndAccess(t, tc)
		})
	}
}

func testResizeAndAccess(t *testing.T, tc resizeCase) {
	c := demo(t)
	password := newPassword(t, "Rsz")
	inst := c.createInstance(testenv.UniqueName(t, "rsz"), "--flavor", "1", "--size", "1", "--datastore", tc.datastore,
		"--datastore-version", c.datastoreVersion(tc.datastore), "--databases", "app", "--users", "app:"+password)
	id := inst.ID
	inst = c.waitActive(id, buildTimeout)
	host := inst.address()
	query := func(stmts ...string) string {
		t.Helper()
		var out string
		var err error
		ok, _ := waitFor(60*time.Second, time.Second, func() (bool, string) {
			out, err = tc.sql(host, "app", password, stmts...)
			return err == nil, out
		})
		if !ok {
			t.Fatalf("%s: %v %s", strings.Join(stmts, ";"), err, out)
		}
		return out
	}
	show := "SHOW " + tc.setting
	if tc.datastore == "mariadb" {
		show = "SELECT @@GLOBAL." + tc.setting
	}
	if got := query(show); got != tc.before {
		t.Errorf("%s on m1.tiny = %q, want %q (Trove's template for 512 MB)", tc.setting, got, tc.before)
	}
	query("CREATE TABLE kept (v INT)", "INSERT INTO kept VALUES (42)")
	assertMemoryLimit(t, id, 512)

	// Resize: RESIZE → ACTIVE on flavor 2, data kept, the setting recomputed, the limit raised.
	c.must("database", "instance", "resize", "flavor", id, "2")
	ok, last := waitFor(buildTimeout, time.Second, func() (bool, string) {
		var v struct {
			Status string `json:"status"`
			Flavor string `json:"flavor"`
		}
		c.json(&v, "database", "instance", "show", id, "-f", "json")
		return v.Status == "ACTIVE" && v.Flavor == "2", fmt.Sprintf("%+v", v)
	})
	if !ok {
		t.Fatalf("instance not ACTIVE on flavor 2 after the resize: %s", last)
	}
	if got := query("SELECT v FROM kept"); got != "42" {
		t.Errorf("data after the resize: %q", got)
	}
	if got := query(show); got != tc.after {
		t.Errorf("%s on m1.small = %q, want %q", tc.setting, got, tc.after)
	}
	assertMemoryLimit(t, id, 1024)
	if out, err := c.run("database", "instance", "resize", "flavor", id, "2"); err == nil || !strings.Contains(out, "must be different") {
		t.Errorf("resize to the same flavor: %v %s", err, out)
	}

	// Access: only 127.0.0.5 reaches the database port; the control plane still reaches the guest.
	c.must("database", "instance", "update", id, "--is-private", "--allowed-cidr", "127.0.0.5/32")
	assertReach(t, host, tc.port, "127.0.0.5", true)
	assertReach(t, host, tc.port, "127.0.0.6", false)
	assertPublic(t, c, id, false)
	c.must("database", "db", "create", id, "after_restrict")
	ok, last = waitFor(60*time.Second, time.Second, func() (bool, string) {
		names := c.names("database", "db", "list", id)
		return strings.Contains(strings.Join(names, ","), "after_restrict"), strings.Join(names, ",")
	})
	if !ok {
		t.Errorf("database created through the control plane after restricting access not listed: %s", last)
	}
	// The reverse.
	c.must("database", "instance", "update", id, "--is-public", "--allowed-cidr", "127.0.0.6/32")
	assertReach(t, host, tc.port, "127.0.0.6", true)
	assertReach(t, host, tc.port, "127.0.0.5", false)
	assertPublic(t, c, id, true)
	if rules := iptablesFor(t, id); !strings.Contains(rules, "127.0.0.6/32") || strings.Contains(rules, "127.0.0.5/32") {
		t.Errorf("iptables rules of %s:\n%s", id, rules)
	}

	// Delete: no rules, no cgroup left behind.
	c.deleteInstance(id)
	c.waitGone(id)
	if rules := iptablesFor(t, id); rules != "" {
		t.Errorf("iptables rules left after delete:\n%s", rules)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory/trove", id)); !os.IsNotExist(err) {
		t.Errorf("memory cgroup of %s left after delete: %v", id, err)
	}
}

// assertMemoryLimit reads the instance's memory cgroup: the flavor's RAM, and the database server in it.
func assertMemoryLimit(t *testing.T, id string, mb int) {
	t.Helper()
	dir := filepath.Join("/sys/fs/cgroup/memory/trove", id)
	b, err := os.ReadFile(filepath.Join(dir, "memory.limit_in_bytes"))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(mb<<20) {
		t.Errorf("memory limit of %s: %q %v, want %d MB", id, b, err, mb)
		return
	}
	procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var comms []string
	for _, p := range strings.Fields(string(procs)) {
		c, _ := os.ReadFile("/proc/" + p + "/comm")
		comms = append(comms, strings.TrimSpace(string(c)))
	}
	all := strings.Join(comms, ",")
	// comm is cut at 15 characters: "trove-guestagen"
	if !strings.Contains(all, "trove-guestagen") || !(strings.Contains(all, "mariadbd") || strings.Contains(all, "postgres")) {
		t.Errorf("processes in the memory cgroup of %s: %s", id, all)
	}
}

// assertReach dials the database port from a given loopback source address.
func assertReach(t *testing.T, host string, port int, from string, want bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 3 * time.Second}
	conn, err := d.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if conn != nil {
		conn.Close()
	}
	if (err == nil) != want {
		t.Errorf("connect %s → %s:%d: %v, want reachable %t", from, host, port, err, want)
	}
}

// assertPublic checks the access shown (troveclient's "public") and whether an address of type public is
// shown (Trove's tempest test_instance_update_access).
func assertPublic(t *testing.T, c *cli, id string, public bool) {
	t.Helper()
	var v struct {
		Public    bool `json:"public"`
		Addresses []struct {
			Address string `json:"address"`
			Type    string `json:"type"`
		} `json:"addresses"`
	}
	c.json(&v, "database", "instance", "show", id, "-f", "json")
	types := []string{}
	for _, a := range v.Addresses {
		types = append(types, a.Type)
	}
	if v.Public != public || slices.Contains(types, "public") != public || len(types) == 0 {
		t.Errorf("instance show after access public=%t: public %t, address types %v", public, v.Public, types)
	}
}

// iptablesFor lists the rules of an instance's chain ("" when it has none).
func iptablesFor(t *testing.T, id string) string {
	t.Helper()
	chain := "TRV-" + strings.ReplaceAll(id, "-", "")[:24]
	out, err := exec.Command("iptables", "-w", "5", "-S", chain).CombinedOutput()
	if err != nil {
		return ""
	}
	jumps, _ := exec.Command("iptables", "-w", "5", "-S", "TROVE-INPUT").CombinedOutput()
	return string(out) + grepLines(string(jumps), chain)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// failedWith is err with the client's output, or nil when the client succeeded.
func failedWith(err error, out []byte) error {
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
