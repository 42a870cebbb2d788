package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/trove-go/trove/pkg/testenv"
)

// Issue 12 part 1: a tenant with root on its instance reaches nothing outside it. A (MariaDB, project demo) and
// B (PostgreSQL, project demo2) each run as a Unix user of their own in namespaces of their own; as root on
// either, the control plane's files and the other instance's files can be neither read nor written, while the
// tenant's own work goes on; after delete the users are gone.
func TestTenantIsolationLocalDriver(t *testing.T) {
	t.Parallel()
	ca := demo(t)
	env := map[string]string{}
	for k, v := range deployment.demo {
		env[k] = v
	}
	env["OS_USERNAME"], env["OS_PROJECT_NAME"] = "demo2", "demo2"
	cb := newCLI(t, env)

	var a, b instance
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		created := ca.createInstance(testenv.UniqueName(t, "isoa"), "--flavor", ca.smallFlavor(), "--size", "1",
			"--datastore", "mariadb", "--datastore-version", ca.datastoreVersion("mariadb"))
		a = ca.waitActive(created.ID, buildTimeout)
	}()
	go func() {
		defer wg.Done()
		created := cb.createInstance(testenv.UniqueName(t, "isob"), "--flavor", cb.smallFlavor(), "--size", "1",
			"--datastore", "postgresql", "--datastore-version", cb.datastoreVersion("postgresql"))
		b = cb.waitActive(created.ID, buildTimeout)
	}()
	wg.Wait()
	if a.ID == "" || b.ID == "" {
		t.Fatal("an instance did not become ACTIVE")
	}
	dirA, dirB := filepath.Join(instancesDir, a.ID), filepath.Join(instancesDir, b.ID)
	var rootA, rootB struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	ca.json(&rootA, "database", "root", "enable", a.ID)
	cb.json(&rootB, "database", "root", "enable", b.ID)
	remember(rootA.Password)
	remember(rootB.Password)

	// Each instance's guest agent and server run as the instance's own user, never as trove.
	uidA, uidB := instanceUID(t, a.ID), instanceUID(t, b.ID)
	trove := passwdUID(t, "trove")
	if uidA == uidB || uidA == trove || uidB == trove || uidA == 0 || uidB == 0 {
		t.Fatalf("instance users: A %d, B %d, trove %d", uidA, uidB, trove)
	}
	for id, uid := range map[string]int{a.ID: uidA, b.ID: uidB} {
		procs := guestProcesses(id)
		sawServer := false
		for _, p := range procs {
			comm := procComm(p)
			if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline"); strings.HasPrefix(string(cmd), "trove-local-helper\x00init\x00") {
				continue // the namespace init: root, holds nothing but its log
			}
			if u := procUID(p); u != uid {
				t.Errorf("instance %s: process %d (%s) runs as uid %d, not the instance's %d", id, p, comm, u, uid)
			}
			sawServer = sawServer || comm == "mariadbd" || comm == "postgres"
		}
		if !sawServer {
			t.Errorf("instance %s: no database server among its processes %v", id, procs)
		}
	}

	// MariaDB root on A.
	hostTmp := filepath.Join("/tmp", testenv.UniqueName(t, "isolation-out"))
	t.Cleanup(func() { os.Remove(hostTmp) })
	mq := func(sql string) (string, error) { return mariadbSQL(a.address(), rootA.Name, rootA.Password, sql) }
	for _, f := range []string{filepath.Join(etcDir, "trove.conf"), filepath.Join(logDir, "trove-api.log"),
		filepath.Join(dirB, "etc/trove/conf.d/guest_info.conf"), filepath.Join(dirB, "etc/trove/conf.d/trove-guestagent.conf"),
		filepath.Join(dirB, "guest.log"), "/etc/passwd"} {
		if out, err := mq("SELECT LOAD_FILE('" + f + "') IS NULL"); err != nil || out != "1" {
			t.Errorf("MariaDB root on A: LOAD_FILE(%s) was not refused: %q %v", f, out, err)
		}
	}
	for _, f := range []string{filepath.Join(dirB, "from-a"), filepath.Join(dirB, "data", "from-a"), hostTmp} {
		if out, err := mq("SELECT 'x' INTO OUTFILE '" + f + "'"); err == nil {
			t.Errorf("MariaDB root on A: INTO OUTFILE %s succeeded: %s", f, out)
		}
		if _, err := os.Stat(f); err == nil {
			t.Errorf("MariaDB root on A wrote %s", f)
		}
	}
	// A's own work: databases, users, grants, data, and its own file directory.
	if out, err := mq("CREATE DATABASE iso; CREATE TABLE iso.t (a INT); INSERT INTO iso.t VALUES (42); " +
		"CREATE USER 'isou'@'%' IDENTIFIED BY 'Iso-pass-1'; GRANT SELECT ON iso.* TO 'isou'@'%'; SELECT a FROM iso.t"); err != nil || out != "42" {
		t.Errorf("MariaDB root on A: own work failed: %q %v", out, err)
	}
	if out, err := mariadbSQL(a.address(), "isou", "Iso-pass-1", "SELECT a FROM iso.t"); err != nil || out != "42" {
		t.Errorf("a user root created on A cannot read what it was granted: %q %v", out, err)
	}
	if dir, err := mq("SELECT @@secure_file_priv"); err != nil || !strings.HasPrefix(dir, dirA+"/") {
		t.Errorf("MariaDB on A: secure_file_priv %q (%v) is not inside the instance %s", dir, err, dirA)
	} else if out, err := mq("SELECT 'mine' INTO OUTFILE '" + strings.TrimRight(dir, "/") + "/own.txt'"); err != nil {
		t.Errorf("MariaDB root on A cannot use its own file directory %s: %q %v", dir, out, err)
	}

	// PostgreSQL root (a real superuser, as in Trove) on B: its file access reaches only its own instance.
	pq := func(sql string) (string, error) { return psqlSQL(b.address(), rootB.Name, rootB.Password, sql) }
	if _, err := pq("CREATE TABLE loot (line text)"); err != nil {
		t.Fatalf("PostgreSQL root on B: CREATE TABLE: %v", err)
	}
	for _, f := range []string{filepath.Join(etcDir, "trove.conf"), filepath.Join(logDir, "trove-api.log"),
		filepath.Join(dirA, "etc/trove/conf.d/guest_info.conf"), filepath.Join(dirA, "guest.log"), "/var/lib/trove-deploy/secrets/rabbit_password"} {
		if out, err := pq("SELECT pg_read_file('" + f + "')"); err == nil {
			t.Errorf("PostgreSQL root on B: pg_read_file(%s) succeeded: %.80q", f, out)
		}
		if out, err := pq("COPY loot FROM '" + f + "'"); err == nil {
			t.Errorf("PostgreSQL root on B: COPY FROM %s succeeded: %s", f, out)
		}
		if out, err := pq("COPY loot FROM PROGRAM 'cat " + f + "'"); err == nil {
			t.Errorf("PostgreSQL root on B: COPY FROM PROGRAM 'cat %s' succeeded: %s", f, out)
		}
	}
	for _, f := range []string{filepath.Join(dirA, "from-b"), filepath.Join(dirA, "data", "from-b"), filepath.Join(logDir, "from-b")} {
		if out, err := pq("COPY (SELECT 'x') TO '" + f + "'"); err == nil {
			t.Errorf("PostgreSQL root on B: COPY TO %s succeeded: %s", f, out)
		}
		if _, err := os.Stat(f); err == nil {
			t.Errorf("PostgreSQL root on B wrote %s", f)
		}
	}
	// /tmp is the instance's own: whatever a superuser writes there never reaches the host's.
	_, _ = pq("COPY (SELECT 'x') TO '" + hostTmp + "'")
	if _, err := os.Stat(hostTmp); err == nil {
		t.Errorf("PostgreSQL root on B wrote the host's %s", hostTmp)
	}
	if out, err := pq("SELECT count(*) FROM loot"); err != nil || out != "0" {
		t.Errorf("PostgreSQL root on B loaded something: %q %v", out, err)
	}
	if out, err := pq("CREATE DATABASE iso"); err != nil {
		t.Errorf("PostgreSQL root on B: CREATE DATABASE: %q %v", out, err)
	}
	if out, err := pq("CREATE ROLE isou LOGIN PASSWORD 'Iso-pass-1'; GRANT CONNECT ON DATABASE iso TO isou; " +
		"INSERT INTO loot VALUES ('mine'); GRANT SELECT ON loot TO isou; SELECT line FROM loot"); err != nil || out != "mine" {
		t.Errorf("PostgreSQL root on B: own work failed: %q %v", out, err)
	}
	if out, err := psqlSQL(b.address(), "isou", "Iso-pass-1", "SELECT line FROM loot"); err != nil || out != "mine" {
		t.Errorf("a role root created on B cannot read what it was granted: %q %v", out, err)
	}

	// After delete nothing of either user is left.
	ca.deleteInstance(a.ID)
	cb.deleteInstance(b.ID)
	for id, uid := range map[string]int{a.ID: uidA, b.ID: uidB} {
		if _, ok := lookupPasswd(t, func(name string, _ int) bool { return name == instanceUser(id) }); ok {
			t.Errorf("the user of deleted instance %s is still in /etc/passwd", id)
		}
		if _, ok := lookupPasswd(t, func(_ string, u int) bool { return u == uid }); ok {
			t.Errorf("uid %d of deleted instance %s is still in /etc/passwd", uid, id)
		}
		for _, p := range allPIDs() {
			if procUID(p) == uid && procState(p) != "Z" {
				t.Errorf("process %d (%s) of deleted instance %s still runs as uid %d", p, procComm(p), id, uid)
			}
		}
	}
}

// instanceUser is the Unix user the local driver gives an instance (pkg/compute/local.InstanceUser).
func instanceUser(id string) string { return "trove-" + strings.ReplaceAll(id, "-", "")[:26] }

func instanceUID(t *testing.T, id string) int {
	t.Helper()
	uid, ok := lookupPasswd(t, func(name string, _ int) bool { return name == instanceUser(id) })
	if !ok {
		t.Fatalf("instance %s has no Unix user %s", id, instanceUser(id))
	}
	return uid
}

func passwdUID(t *testing.T, name string) int {
	t.Helper()
	uid, ok := lookupPasswd(t, func(n string, _ int) bool { return n == name })
	if !ok {
		t.Fatalf("no user %s", name)
	}
	return uid
}

// lookupPasswd returns the uid of the first /etc/passwd entry match accepts.
func lookupPasswd(t *testing.T, match func(name string, uid int) bool) (int, bool) {
	t.Helper()
	f, err := os.Open("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), ":")
		if len(p) < 3 {
			continue
		}
		if uid, err := strconv.Atoi(p[2]); err == nil && match(p[0], uid) {
			return uid, true
		}
	}
	return 0, false
}

func allPIDs() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// guestProcesses are the live processes whose command line names the instance directory.
func guestProcesses(id string) []int {
	dir := filepath.Join(instancesDir, id) + "/"
	var out []int
	for _, p := range allPIDs() {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
		if strings.Contains(string(b), dir) && procState(p) != "Z" {
			out = append(out, p)
		}
	}
	return out
}

// procStatus returns a field of /proc/<pid>/status ("" if unreadable).
func procStatus(pid int, field string) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// procUID is the real uid of a process, -1 if unknown.
func procUID(pid int) int {
	f := strings.Fields(procStatus(pid, "Uid"))
	if len(f) == 0 {
		return -1
	}
	u, _ := strconv.Atoi(f[0])
	return u
}

func procState(pid int) string {
	s := procStatus(pid, "State")
	if s == "" {
		return ""
	}
	return s[:1]
}

// mariadbSQL runs sql with the real mariadb client over TCP and returns its batch output.
func mariadbSQL(host, user, password, sql string) (string, error) {
	cmd := exec.Command("mariadb", "-h", host, "-u", user, "--connect-timeout=10", "-N", "-B", "-e", sql)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+password)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// psqlSQL runs sql with the real psql client over TCP (each statement on its own, as psql -c runs one string
// in one transaction) and returns the last output.
func psqlSQL(host, user, password, sql string) (string, error) {
	cmd := exec.Command("psql", "-h", host, "-U", user, "-d", "postgres", "-w", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1")
	cmd.Stdin = strings.NewReader(sql + ";\n")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
