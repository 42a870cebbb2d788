package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dbClient runs `SELECT 1` through a datastore's real command-line client; it returns the client's output and
// an error when the client could not connect, log in or run the query.
type dbClient func(host, user, password, database string) (string, error)

// mariadbClient is Debian's `mariadb` client: mariadb -h <address> -u <user> -p<password> <database>.
func mariadbClient(host, user, password, database string) (string, error) {
	args := []string{"-h", host, "-u", user, "-p" + password, "--connect-timeout=10", "-N", "-B", "-e", "SELECT 1"}
	if database != "" {
		args = append(args, database)
	}
	out, err := exec.Command("mariadb", args...).CombinedOutput()
	return checkOne(string(out), err)
}

// psqlClient is PostgreSQL's `psql` client over TCP with a password.
func psqlClient(host, user, password, database string) (string, error) {
	if database == "" {
		database = "postgres"
	}
	cmd := exec.Command("psql", "-h", host, "-U", user, "-d", database, "-w", "-X", "-tA", "-c", "SELECT 1")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	return checkOne(string(out), err)
}

func checkOne(out string, err error) (string, error) {
	if err == nil && strings.TrimSpace(out) != "1" {
		err = &unexpectedOutput{out}
	}
	return out, err
}

type unexpectedOutput struct{ out string }

func (u *unexpectedOutput) Error() string { return "SELECT 1 returned " + strconv.Quote(u.out) }

// mustConnect fails the test unless the client can log in and run SELECT 1. A freshly (re)started server may
// accept connections a moment after the API shows ACTIVE, so it retries for a while.
func mustConnect(t *testing.T, client dbClient, host, user, password, database string) {
	t.Helper()
	var out string
	var err error
	ok, _ := waitFor(30*time.Second, time.Second, func() (bool, string) {
		out, err = client(host, user, password, database)
		return err == nil, out
	})
	if !ok {
		t.Fatalf("connecting to %s as %s (database %q): %v\n%s", host, user, database, err, out)
	}
}

// mustNotConnect fails the test if the client can log in and reach the database.
func mustNotConnect(t *testing.T, client dbClient, host, user, password, database string) {
	t.Helper()
	if out, err := client(host, user, password, database); err == nil {
		t.Fatalf("user %s could still use database %q on %s: %s", user, database, host, out)
	}
}

// datastoreServerPID returns the pid of the instance's database server (mariadbd, or the postgres postmaster):
// a process of that name whose command line names the instance directory, or that runs in the session of the
// instance's guest agent (<instance dir>/guest.pid). 0 if there is none.
func datastoreServerPID(instanceID string) int {
	dir := filepath.Join(instancesDir, instanceID)
	guestSession := 0
	if b, err := os.ReadFile(filepath.Join(dir, "guest.pid")); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			guestSession, _ = strconv.Atoi(f[0])
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		comm := procComm(pid)
		if comm != "mariadbd" && comm != "mysqld" && comm != "postgres" {
			continue
		}
		if comm == "postgres" && procComm(procPPID(pid)) == "postgres" {
			continue // a backend or auxiliary process, not the postmaster
		}
		cmdline, _ := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		if strings.Contains(string(cmdline), dir+"/") || (guestSession > 0 && procSession(pid) == guestSession) {
			return pid
		}
	}
	return 0
}

func procComm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// procStatField returns field n (1-based, as in proc(5)) of /proc/<pid>/stat, 0 if unreadable.
func procStatField(pid, n int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	// The command name (field 2) may hold spaces: fields after it start past the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if n-3 >= len(f) || n < 3 {
		return 0
	}
	v, _ := strconv.Atoi(f[n-3])
	return v
}

func procPPID(pid int) int    { return procStatField(pid, 4) }
func procSession(pid int) int { return procStatField(pid, 6) }

// childOf returns the first process whose parent is ppid, 0 if none.
func childOf(ppid int) int {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err == nil && procPPID(pid) == ppid {
			return pid
		}
	}
	return 0
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// readPIDFile reads the first number of a pid file.
func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.Fields(string(b) + " 0")[0])
}
