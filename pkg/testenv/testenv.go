// Package testenv gives tests the real servers of the test environment — MariaDB, RabbitMQ and Keystone — that
// deploy/test-env.sh installs, starts and describes in .test.env at the repository root. Test-only: import it from
// _test.go files only.
//
// Values come from the process environment first (`make test` sources .test.env), then from .test.env itself
// (found by walking up from the working directory), so a plain `go test` works too. A missing value fails the
// test loudly; nothing is ever skipped.
package testenv

import (
	"bufio"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// The variables written by deploy/test-env.sh (docs/packages.md).
const (
	MySQLDSN              = "TROVE_TEST_MYSQL_DSN"
	TransportURLVar       = "TROVE_TEST_TRANSPORT_URL"
	KeystoneURLVar        = "TROVE_TEST_KEYSTONE_URL"
	KeystoneAdminPassword = "TROVE_TEST_KEYSTONE_ADMIN_PASSWORD"
	ServicePassword       = "TROVE_TEST_SERVICE_PASSWORD"
	DemoPassword          = "TROVE_TEST_DEMO_PASSWORD"
	// RabbitManagementURLVar is the RabbitMQ management HTTP API with the credentials of its administrator
	// account trove-broker-admin: http://trove-broker-admin:…@127.0.0.1:15672.
	RabbitManagementURLVar = "TROVE_TEST_RABBIT_MANAGEMENT_URL"
)

// EnvFile is the name of the file deploy/test-env.sh writes at the repository root.
const EnvFile = ".test.env"

var (
	fileOnce sync.Once
	fileVals map[string]string
	fileErr  error
	filePath string
)

// Get returns the test-environment variable name, failing the test when it is not set.
func Get(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	fileOnce.Do(func() { filePath, fileVals, fileErr = loadEnvFile() })
	if v := fileVals[name]; v != "" {
		return v
	}
	where := "no " + EnvFile + " found above the working directory"
	switch {
	case fileErr != nil:
		where = fileErr.Error()
	case filePath != "":
		where = filePath + " does not set it"
	}
	t.Fatalf("testenv: %s is not set (%s): run `make test` (deploy/test-env.sh) to install and start "+
		"MariaDB, RabbitMQ and Keystone and write %s", name, where, EnvFile)
	return ""
}

// TransportURL is the oslo.messaging transport_url of the test RabbitMQ (user trove, vhost /).
func TransportURL(t testing.TB) string {
	t.Helper()
	return Get(t, TransportURLVar)
}

// RabbitManagement returns the RabbitMQ management API URL (without credentials) and its administrator's user
// name and password (the account the taskmanager's [guest_broker] uses in make run's deployment).
func RabbitManagement(t testing.TB) (apiURL, user, password string) {
	t.Helper()
	u, err := url.Parse(Get(t, RabbitManagementURLVar))
	if err != nil || u.User == nil {
		t.Fatalf("testenv: %s is not an http://user:password@host:port URL", RabbitManagementURLVar)
	}
	password, _ = u.User.Password()
	user = u.User.Username()
	u.User = nil
	return u.String(), user, password
}

// KeystoneURL is the Keystone v3 endpoint, e.g. http://127.0.0.1:5000/v3.
func KeystoneURL(t testing.TB) string {
	t.Helper()
	return Get(t, KeystoneURLVar)
}

// UniqueName returns prefix followed by a random suffix, for objects that must not collide between tests or runs
// (queues, exchanges, Keystone entities, ...).
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	return prefix + "-" + randomHex(t, 4)
}

// NewDatabase creates an empty MariaDB database named after the test, drops it when the test ends, and returns a
// go-sql-driver DSN for it with parseTime=true and multiStatements=true (what golang-migrate needs).
func NewDatabase(t testing.TB) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(Get(t, MySQLDSN))
	if err != nil {
		t.Fatalf("testenv: %s is not a valid DSN: %v", MySQLDSN, err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("testenv: open MariaDB: %v", err)
	}
	admin.SetMaxOpenConns(1)
	name := databaseName(t.Name(), randomHex(t, 4))
	if _, err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"); err != nil {
		_ = admin.Close()
		t.Fatalf("testenv: create database %s on %s: %v — is MariaDB running? run `make test` (deploy/test-env.sh)",
			name, cfg.Addr, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS `" + name + "`"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	cfg.ParseTime = true
	cfg.MultiStatements = true
	return cfg.FormatDSN()
}

// databaseName derives a valid MariaDB identifier (at most 64 characters) from a test name and a random suffix.
func databaseName(testName, suffix string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	base := b.String()
	const maxBase = 64 - len("t__") - 16
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	return "t_" + base + "_" + suffix
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// loadEnvFile finds .test.env in the working directory or one of its parents and parses it.
func loadEnvFile() (string, map[string]string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", nil, err
	}
	for {
		p := filepath.Join(dir, EnvFile)
		f, err := os.Open(p)
		if err == nil {
			defer f.Close()
			vals, err := parseEnv(f)
			if err != nil {
				return p, nil, fmt.Errorf("%s: %w", p, err)
			}
			return p, vals, nil
		}
		if !os.IsNotExist(err) {
			return p, nil, err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil, nil
		}
		dir = parent
	}
}

// parseEnv reads KEY=value lines; blank lines and # comments are ignored, and one level of matching single or
// double quotes around the value is removed (the file is also sourced by bash).
func parseEnv(f io.Reader) (map[string]string, error) {
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		key, val, err := parseLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if key != "" {
			vals[key] = val
		}
	}
	return vals, sc.Err()
}

func parseLine(line string) (key, val string, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", "", nil
	}
	line = strings.TrimPrefix(line, "export ")
	key, val, ok := strings.Cut(line, "=")
	if !ok || strings.TrimSpace(key) == "" {
		return "", "", fmt.Errorf("want KEY=value, got %q", line)
	}
	if len(val) >= 2 && (val[0] == '\'' || val[0] == '"') && val[len(val)-1] == val[0] {
		val = val[1 : len(val)-1]
	}
	return strings.TrimSpace(key), val, nil
}
