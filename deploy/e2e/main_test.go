package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/testenv"
)

// Paths of the deployment that deploy/run.sh creates (README "Where things live").
const (
	etcDir       = "/etc/trove"
	logDir       = "/var/log/trove"
	pidDir       = "/run/trove"
	instancesDir = "/var/lib/trove/local/instances"
	apiURL       = "https://127.0.0.1:8779"
)

// deployment is what TestMain learnt from bringing the deployment up.
var deployment struct {
	repo  string            // repository root
	demo  map[string]string // OS_* variables of /etc/trove/openrc.demo
	admin map[string]string // OS_* variables of /etc/trove/openrc.admin
}

// TestMain brings the deployment up exactly as a user does (`make run` = deploy/run.sh) and reads the openrc
// files it writes. Any failure stops the whole package with run.sh's output and the service logs.
func TestMain(m *testing.M) {
	if err := setUp(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: deployment failed: %v\n", err)
		dumpLogs()
		os.Exit(1)
	}
	code := m.Run()
	if leaks := secretsInLogs(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: passwords the tests used are in the service logs:\n%s\n", strings.Join(leaks, "\n"))
		code = 1
	}
	if code != 0 {
		dumpLogs()
	}
	os.Exit(code)
}

// secrets are the passwords the tests gave to the deployment or got from it; after the suite no service log may
// hold one (issue 12: no secrets in logs).
var secrets struct {
	sync.Mutex
	list []string
}

// remember records a password for the log check and returns it.
func remember(password string) string {
	secrets.Lock()
	defer secrets.Unlock()
	secrets.list = append(secrets.list, password)
	return password
}

// newPassword is a fresh password for a test, remembered for the log check.
func newPassword(t *testing.T, prefix string) string {
	return remember(testenv.UniqueName(t, prefix))
}

// secretsInLogs returns "file: password" for every remembered password found in /var/log/trove/*.log.
func secretsInLogs() []string {
	secrets.Lock()
	defer secrets.Unlock()
	files, _ := filepath.Glob(filepath.Join(logDir, "*.log"))
	var leaks []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			leaks = append(leaks, fmt.Sprintf("%s: unreadable: %v", f, err))
			continue
		}
		for _, pw := range secrets.list {
			if bytes.Contains(b, []byte(pw)) {
				leaks = append(leaks, f+": "+pw)
			}
		}
	}
	return leaks
}

func setUp() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	deployment.repo = filepath.Clean(filepath.Join(wd, "..", ".."))
	if out, err := runDeploy(); err != nil {
		return fmt.Errorf("bash deploy/run.sh: %v\n--- output ---\n%s", err, out)
	}
	if deployment.demo, err = readOpenrc(filepath.Join(etcDir, "openrc.demo")); err != nil {
		return err
	}
	if deployment.admin, err = readOpenrc(filepath.Join(etcDir, "openrc.admin")); err != nil {
		return err
	}
	return nil
}

// runDeploy runs deploy/run.sh on the package's compute driver (idempotent: a second run only starts what is
// stopped).
func runDeploy() (string, error) {
	cmd := exec.Command("bash", filepath.Join(deployment.repo, "deploy", "run.sh"))
	cmd.Dir = deployment.repo
	cmd.Env = append(os.Environ(), "COMPUTE="+computeDriver)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// readOpenrc parses the `export KEY=VALUE` lines of an openrc file and requires the variables the CLI needs.
func readOpenrc(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("openrc written by deploy/run.sh: %w", err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: unparsable line %q", path, line)
		}
		vars[k] = unquote(v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, k := range []string{"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_CACERT"} {
		if vars[k] == "" {
			return nil, fmt.Errorf("%s: %s is missing", path, k)
		}
	}
	return vars, nil
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// dumpLogs prints the tail of every service log, so a failed run explains itself in CI output.
func dumpLogs() {
	logs, _ := filepath.Glob(filepath.Join(logDir, "*.log"))
	sort.Strings(logs)
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		fmt.Fprintf(os.Stderr, "--- %s (last %d lines) ---\n%s\n", l, len(lines), strings.Join(lines, "\n"))
	}
}

// waitFor polls ok every interval until it returns true or the deadline passes; it returns ok's last result
// (a description of the state seen, for the failure message).
func waitFor(timeout, interval time.Duration, ok func() (bool, string)) (bool, string) {
	deadline := time.Now().Add(timeout)
	for {
		done, last := ok()
		if done || time.Now().After(deadline) {
			return done, last
		}
		time.Sleep(interval)
	}
}
