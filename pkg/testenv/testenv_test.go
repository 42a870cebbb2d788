package testenv

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	amqp "github.com/rabbitmq/amqp091-go"
)

// TestNewDatabaseRoundTrip writes and reads a row in the fresh database, then checks the cleanup dropped it.
func TestNewDatabaseRoundTrip(t *testing.T) {
	var name string
	t.Run("use", func(t *testing.T) {
		dsn := NewDatabase(t)
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.ParseTime || !cfg.MultiStatements {
			t.Fatalf("DSN %q: want parseTime and multiStatements", cfg.FormatDSN())
		}
		name = cfg.DBName
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// multiStatements: two statements in one Exec.
		if _, err := db.Exec("CREATE TABLE t (id INT PRIMARY KEY, at DATETIME NOT NULL); " +
			"INSERT INTO t VALUES (1, '2024-05-06 07:08:09')"); err != nil {
			t.Fatal(err)
		}
		var current string
		var at time.Time // parseTime: DATETIME scans into time.Time
		if err := db.QueryRow("SELECT DATABASE(), at FROM t WHERE id = 1").Scan(&current, &at); err != nil {
			t.Fatal(err)
		}
		if current != name {
			t.Errorf("connected to database %q, want %q", current, name)
		}
		if want := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC); !at.Equal(want) {
			t.Errorf("at = %v, want %v", at, want)
		}
	})
	if name == "" {
		t.Fatal("subtest did not create a database")
	}
	admin, err := sql.Open("mysql", Get(t, MySQLDSN))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after the test's cleanup", name)
	}
}

func TestDatabaseName(t *testing.T) {
	valid := regexp.MustCompile(`^t_[a-z0-9_]+_[0-9a-f]{8}$`)
	for _, tc := range []struct{ test, want string }{
		{"TestX", "t_testx_0123abcd"},
		{"TestX/sub case#01", "t_testx_sub_case_01_0123abcd"},
		{strings.Repeat("TestVeryLong", 20), ""},
	} {
		got := databaseName(tc.test, "0123abcd")
		if tc.want != "" && got != tc.want {
			t.Errorf("databaseName(%q) = %q, want %q", tc.test, got, tc.want)
		}
		if len(got) > 64 || !valid.MatchString(got) {
			t.Errorf("databaseName(%q) = %q: not a valid identifier of at most 64 characters", tc.test, got)
		}
	}
}

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		line, key, val string
		wantErr        bool
	}{
		{line: "", key: ""},
		{line: "# comment", key: ""},
		{line: "A=b", key: "A", val: "b"},
		{line: "A='trove:x@tcp(127.0.0.1:3306)/'", key: "A", val: "trove:x@tcp(127.0.0.1:3306)/"},
		{line: `export A="b c"`, key: "A", val: "b c"},
		{line: "A=", key: "A", val: ""},
		{line: "A=x=y", key: "A", val: "x=y"},
		{line: "A='unbalanced", key: "A", val: "'unbalanced"},
		{line: "no equals sign", wantErr: true},
	} {
		key, val, err := parseLine(tc.line)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseLine(%q) error = %v, want error %v", tc.line, err, tc.wantErr)
			continue
		}
		if key != tc.key || val != tc.val {
			t.Errorf("parseLine(%q) = %q, %q; want %q, %q", tc.line, key, val, tc.key, tc.val)
		}
	}
}

// recorder is a testing.TB that records Fatalf instead of stopping the goroutine.
type recorder struct {
	testing.TB
	fatal string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
}

func TestGetMissingFailsLoudly(t *testing.T) {
	r := &recorder{TB: t}
	if got := Get(r, "TROVE_TEST_DOES_NOT_EXIST"); got != "" {
		t.Errorf("Get = %q, want empty", got)
	}
	if !strings.Contains(r.fatal, "TROVE_TEST_DOES_NOT_EXIST") || !strings.Contains(r.fatal, "deploy/test-env.sh") {
		t.Errorf("Fatalf message %q: want the variable name and how to fix it", r.fatal)
	}
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName(t, "queue"), UniqueName(t, "queue")
	if a == b || !strings.HasPrefix(a, "queue-") {
		t.Errorf("UniqueName gave %q and %q: want distinct names starting with queue-", a, b)
	}
}

// TestTransportURL connects to RabbitMQ with the test credentials.
func TestTransportURL(t *testing.T) {
	u := strings.Replace(TransportURL(t), "rabbit://", "amqp://", 1)
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatalf("dial RabbitMQ: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare(UniqueName(t, "testenv"), false, true, true, false, nil)
	if err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	if q.Messages != 0 {
		t.Errorf("new queue has %d messages", q.Messages)
	}
}

// TestKeystone issues tokens for the identities test-env.sh creates.
func TestKeystone(t *testing.T) {
	for _, tc := range []struct {
		user, project, password string
		role                    string
	}{
		{"admin", "admin", Get(t, KeystoneAdminPassword), "admin"},
		{"trove", "service", Get(t, ServicePassword), "admin"},
		{"demo", "demo", Get(t, DemoPassword), "member"},
		{"demo2", "demo2", Get(t, DemoPassword), "member"},
		{"demoreader", "demo", Get(t, DemoPassword), "reader"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			roles := issueToken(t, KeystoneURL(t), tc.user, tc.project, tc.password)
			if !roles[tc.role] {
				t.Errorf("token of %s on %s has roles %v, want %s", tc.user, tc.project, roles, tc.role)
			}
			if tc.role == "reader" && roles["member"] {
				t.Errorf("reader token of %s carries member", tc.user)
			}
		})
	}
}

func issueToken(t *testing.T, url, user, project, password string) map[string]bool {
	t.Helper()
	body := fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":%q,
		"domain":{"id":"default"},"password":%q}}},"scope":{"project":{"name":%q,"domain":{"id":"default"}}}}}`,
		user, password, project)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/auth/tokens", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s/auth/tokens: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Subject-Token") == "" {
		t.Fatalf("token for %s on %s: status %s", user, project, resp.Status)
	}
	var out struct {
		Token struct {
			Roles []struct{ Name string } `json:"roles"`
		} `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	roles := map[string]bool{}
	for _, r := range out.Token.Roles {
		roles[r.Name] = true
	}
	return roles
}

// cleanupTB runs its Cleanup functions when told to (once per benchmark iteration).
type cleanupTB struct {
	testing.TB
	fns []func()
}

func (c *cleanupTB) Cleanup(f func()) { c.fns = append(c.fns, f) }
func (c *cleanupTB) runCleanups() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
	c.fns = nil
}

// BenchmarkNewDatabase measures what a per-test database costs: create it, then drop it as the cleanup does.
func BenchmarkNewDatabase(b *testing.B) {
	tb := &cleanupTB{TB: b}
	for b.Loop() {
		NewDatabase(tb)
		tb.runCleanups()
	}
}
