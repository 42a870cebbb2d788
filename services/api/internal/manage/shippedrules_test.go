package manage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trove-go/trove/pkg/testenv"
	"github.com/trove-go/trove/services/api/internal/manage"
)

// serverVar is what a server says about one of its variables.
type serverVar struct {
	name     string
	typ      string   // MariaDB VARIABLE_TYPE (INT UNSIGNED, BOOLEAN, DOUBLE, ENUM, ...); PostgreSQL vartype
	min, max string   // numeric range; "" when the server gives none
	restart  bool     // only applied at server start (MariaDB READ_ONLY, PostgreSQL context postmaster)
	fixed    bool     // cannot be set at all (MariaDB SESSION ONLY, PostgreSQL context internal)
	enum     []string // PostgreSQL enum values
}

// TestShippedRulesAreCoherent: every shipped file loads (manage.ParseValidationRules) and each rule is coherent:
// integer bounds are integers, boolean and string rules have none, min ≤ max.
func TestShippedRulesAreCoherent(t *testing.T) {
	t.Parallel()
	for _, m := range shippedManagers {
		raw, err := os.ReadFile(rulesFile(m))
		if err != nil {
			t.Fatal(err)
		}
		params, err := manage.ParseValidationRules(raw)
		if err != nil {
			t.Fatalf("%s.json: %v", m, err)
		}
		if len(params) == 0 {
			t.Fatalf("%s.json has no rules", m)
		}
		for _, r := range readRules(t, rulesFile(m)) {
			switch r.Type {
			case "integer", "float":
				if r.Min == nil {
					t.Errorf("%s.json %s: a %s rule without a minimum", m, r.Name, r.Type)
				}
				if bounds := numText(r.Min) + numText(r.Max); r.Type == "integer" && strings.ContainsAny(bounds, ".eE") {
					t.Errorf("%s.json %s: integer rule with bounds %v and %v", m, r.Name, r.Min, r.Max)
				}
				if r.Min != nil && r.Max != nil && rat(t, r.Min.String()).Cmp(rat(t, r.Max.String())) > 0 {
					t.Errorf("%s.json %s: min %s > max %s", m, r.Name, r.Min, r.Max)
				}
			case "boolean", "string":
				if r.Min != nil || r.Max != nil {
					t.Errorf("%s.json %s: a %s rule with bounds", m, r.Name, r.Type)
				}
			default:
				t.Errorf("%s.json %s: type %q", m, r.Name, r.Type)
			}
		}
	}
}

func rat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not a number: %q", s)
	}
	return r
}

func orNone(n *json.Number) string {
	if n == nil {
		return "none"
	}
	return n.String()
}

// huge is the bound above which a server's maximum means "no maximum" (PostgreSQL's real GUCs: DBL_MAX).
var huge = new(big.Rat).SetFloat64(1e300)

// checkAgainstServer holds each rule of a shipped file to the server's own description of the variable: the
// variable exists and can be set, a variable applied at start only is restart_required, the rule's type fits
// the variable's, and a numeric rule's bounds are inside the server's range (and present where the server has
// one), so a value the API accepts is one the server takes.
func checkAgainstServer(t *testing.T, manager, engine string, vars map[string]serverVar, typeFits func(rule string, v serverVar) bool) {
	t.Helper()
	rules := readRules(t, rulesFile(manager))
	for _, r := range rules {
		v, ok := vars[strings.ToLower(r.Name)]
		if !ok {
			t.Errorf("%s.json %s: %s has no such variable", manager, r.Name, engine)
			continue
		}
		if v.fixed {
			t.Errorf("%s.json %s: %s cannot set it", manager, r.Name, engine)
			continue
		}
		if v.restart && !r.RestartRequired {
			t.Errorf("%s.json %s: %s applies it at start only; restart_required must be true", manager, r.Name, engine)
		}
		if !typeFits(r.Type, v) {
			t.Errorf("%s.json %s: type %s does not fit %s's %s %v", manager, r.Name, r.Type, engine, v.typ, v.enum)
		}
		if (r.Type != "integer" && r.Type != "float") || v.min == "" {
			continue
		}
		smin, smax := rat(t, v.min), rat(t, v.max)
		if r.Min == nil || rat(t, r.Min.String()).Cmp(smin) < 0 {
			t.Errorf("%s.json %s: min %s, %s's minimum is %s", manager, r.Name, orNone(r.Min), engine, v.min)
		}
		if smax.Cmp(huge) < 0 && (r.Max == nil || rat(t, r.Max.String()).Cmp(smax) > 0) {
			t.Errorf("%s.json %s: max %s, %s's maximum is %s", manager, r.Name, orNone(r.Max), engine, v.max)
		}
		if r.Max != nil && rat(t, r.Max.String()).Cmp(smax) > 0 {
			t.Errorf("%s.json %s: max %v above %s's maximum %s", manager, r.Name, r.Max, engine, v.max)
		}
	}
	t.Logf("%s.json: %d rules checked against %s", manager, len(rules), engine)
}

// TestShippedRulesNameMariaDBVariables checks mysql.json and mariadb.json against MariaDB — the engine of both
// datastores on the local driver — through information_schema.SYSTEM_VARIABLES of the test server, which must
// be the same MariaDB as the mariadbd the local driver runs.
func TestShippedRulesNameMariaDBVariables(t *testing.T) {
	t.Parallel()
	d, err := sqlx.Open("mysql", testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var version string
	if err := d.GetContext(t.Context(), &version, "SELECT VERSION()"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/sbin/mariadbd", "--version").Output()
	if err != nil {
		t.Fatalf("mariadbd --version (the local driver's engine): %v", err)
	}
	if !strings.Contains(string(out), " Ver "+version+" ") {
		t.Fatalf("the test server is MariaDB %s but the local driver runs %s", version, out)
	}
	var rows []struct {
		Name     string  `db:"VARIABLE_NAME"`
		Scope    string  `db:"VARIABLE_SCOPE"`
		Type     string  `db:"VARIABLE_TYPE"`
		Min      *string `db:"NUMERIC_MIN_VALUE"`
		Max      *string `db:"NUMERIC_MAX_VALUE"`
		ReadOnly string  `db:"READ_ONLY"`
	}
	if err := d.SelectContext(t.Context(), &rows, `SELECT VARIABLE_NAME, VARIABLE_SCOPE, VARIABLE_TYPE,
		NUMERIC_MIN_VALUE, NUMERIC_MAX_VALUE, READ_ONLY FROM information_schema.SYSTEM_VARIABLES`); err != nil {
		t.Fatal(err)
	}
	vars := map[string]serverVar{}
	for _, r := range rows {
		v := serverVar{name: r.Name, typ: r.Type, restart: r.ReadOnly == "YES", fixed: r.Scope == "SESSION ONLY"}
		if r.Min != nil && r.Max != nil {
			v.min, v.max = *r.Min, *r.Max
		}
		vars[strings.ToLower(r.Name)] = v
	}
	fits := func(rule string, v serverVar) bool {
		switch rule {
		case "integer": // 0/1 for a BOOLEAN; whole numbers for a DOUBLE
			return strings.Contains(v.typ, "INT") || v.typ == "BOOLEAN" || v.typ == "DOUBLE"
		case "float":
			return v.typ == "DOUBLE"
		case "boolean":
			return v.typ == "BOOLEAN"
		}
		return v.typ == "VARCHAR" || v.typ == "ENUM" || v.typ == "SET" || v.typ == "FLAGSET"
	}
	for _, m := range []string{"mysql", "mariadb"} {
		checkAgainstServer(t, m, "MariaDB "+version, vars, fits)
		for _, r := range readRules(t, rulesFile(m)) {
			if v := vars[strings.ToLower(r.Name)]; v.typ == "BOOLEAN" && r.Type == "integer" && (numText(r.Min) != "0" || numText(r.Max) != "1") {
				t.Errorf("%s.json %s: integer rule of a BOOLEAN needs min 0 and max 1", m, r.Name)
			}
		}
	}
}

// TestShippedRulesNamePostgreSQLSettings checks postgresql.json against pg_settings of a throwaway server of the
// PostgreSQL the local driver runs (the newest /usr/lib/postgresql/*/bin, as deploy/run.sh picks it).
func TestShippedRulesNamePostgreSQLSettings(t *testing.T) {
	t.Parallel()
	vars, version := pgSettings(t)
	fits := func(rule string, v serverVar) bool {
		switch rule {
		case "integer": // whole numbers for a real
			return v.typ == "integer" || v.typ == "real"
		case "float":
			return v.typ == "real"
		case "boolean": // an enum that takes on and off takes a boolean
			return v.typ == "bool" || (v.typ == "enum" && slices.Contains(v.enum, "on") && slices.Contains(v.enum, "off"))
		}
		return true // strings carry units ("128MB", "1min") and enum names
	}
	checkAgainstServer(t, "postgresql", "PostgreSQL "+version, vars, fits)
}

// pgSettings starts a private PostgreSQL server (initdb, unix socket only, in a temporary directory; as the
// postgres user when the test runs as root) and returns its pg_settings.
func pgSettings(t *testing.T) (map[string]serverVar, string) {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(bins, func(i, j int) bool { return versionLess(bins[i], bins[j]) })
	if len(bins) == 0 {
		t.Fatal("no /usr/lib/postgresql/*/bin: deploy/test-env.sh installs postgresql-15")
	}
	bin := bins[len(bins)-1]
	dir := t.TempDir()
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, p := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(p, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	asPostgres := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd
	}
	data := filepath.Join(dir, "data")
	if out, err := asPostgres("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	server := asPostgres("postgres", "-D", data, "-k", dir, "-c", "listen_addresses=", "-c", "fsync=off")
	var log bytes.Buffer
	server.Stdout, server.Stderr = &log, &log
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = server.Process.Signal(syscall.SIGINT)
		_ = server.Wait()
	})
	query := func(sql string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
			"-h", dir, "-U", "postgres", "-d", "postgres", "-c", sql).CombinedOutput()
		return string(out), err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := query("SELECT 1"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL did not answer: %v\n%s", err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	version, err := query("SHOW server_version")
	if err != nil {
		t.Fatal(err)
	}
	out, err := query(`SELECT name, vartype, context, COALESCE(min_val, ''), COALESCE(max_val, ''),
		COALESCE(array_to_string(enumvals, ','), '') FROM pg_settings`)
	if err != nil {
		t.Fatalf("pg_settings: %v\n%s", err, out)
	}
	vars := map[string]serverVar{}
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			t.Fatalf("pg_settings line %q", line)
		}
		v := serverVar{name: f[0], typ: f[1], min: f[3], max: f[4], restart: f[2] == "postmaster", fixed: f[2] == "internal"}
		if f[5] != "" {
			v.enum = strings.Split(f[5], ",")
		}
		vars[strings.ToLower(f[0])] = v
	}
	if len(vars) < 300 {
		t.Fatalf("only %d settings", len(vars))
	}
	return vars, strings.TrimSpace(version)
}

var digits = regexp.MustCompile(`[0-9]+`)

// versionLess orders paths like /usr/lib/postgresql/9.6/bin and /usr/lib/postgresql/15/bin by version (sort -V).
func versionLess(a, b string) bool {
	na, nb := digits.FindAllString(a, -1), digits.FindAllString(b, -1)
	for i := 0; i < len(na) && i < len(nb); i++ {
		x, _ := strconv.Atoi(na[i])
		y, _ := strconv.Atoi(nb[i])
		if x != y {
			return x < y
		}
	}
	return len(na) < len(nb)
}
