package api

import (
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/testenv"
	"github.com/trove-go/trove/services/api/internal/schema"
)

// activeGuestInstance creates an instance as demo whose guest (memGuest) is RUNNING, and returns its path.
func activeGuestInstance(t *testing.T, e *env) (string, *memGuest) {
	t.Helper()
	g := &memGuest{dbs: map[string]bool{}, users: map[string]guestapi.User{}}
	e.api.guests = memGuests{g}
	id := e.createInstance("demo", "names")
	e.markActive(id)
	if err := e.db.SetServiceStatus(t.Context(), id, status.Running); err != nil {
		t.Fatal(err)
	}
	return "/v1.0/" + projDemo + "/instances/" + id, g
}

// What the guest would refuse — an unknown character set, a one-letter database name, a 100-character user
// name — is a 400 at the API before anything is created or cast (issue 12: charset klingon answered 202 and
// created nothing; a create with such names went ACTIVE with the data missing).
func TestNamesAndCharsetsRefusedBeforeAnythingIsCreated(t *testing.T) {
	e := newEnv(t)
	p, g := activeGuestInstance(t, e)
	long := strings.Repeat("u", 100)
	guestRoutes := []struct{ method, path, body, msg string }{
		{"POST", "/databases", `{"databases": [{"name": "app", "character_set": "klingon"}]}`, "Database create error: 'klingon' not a valid character set."},
		{"POST", "/databases", `{"databases": [{"name": "app", "collate": "klingon_ci"}]}`, "Database create error: 'klingon_ci' not a valid collation."},
		{"POST", "/databases", `{"databases": [{"name": "app", "character_set": "latin1", "collate": "utf8mb4_bin"}]}`, "Database create error: utf8mb4_bin not a valid collation for charset latin1."},
		{"POST", "/databases", `{"databases": [{"name": "ok1"}, {"name": "d"}]}`, "Database create error: 'd' is not a valid schema name."},
		{"POST", "/databases", `{"databases": [{"name": "` + strings.Repeat("d", 65) + `"}]}`, "Database create error: Schema name '" + strings.Repeat("d", 64) + "…' is too long. Max length = 64."},
		{"POST", "/users", `{"users": [{"name": "` + long + `", "password": "pw"}]}`, "User create error: User name '" + strings.Repeat("u", 64) + "…' is too long. Max length = 32."},
		{"POST", "/users", `{"users": [{"name": "bad;name", "password": "pw"}]}`, "User create error: 'bad;name' is not a valid user name."},
		{"POST", "/users", `{"users": [{"name": "app", "password": "pw", "host": "10.0.0.300"}]}`, "User create error: '10.0.0.300' is not a valid hostname."},
		{"POST", "/users", `{"users": [{"name": "app", "password": "it's"}]}`, "User create error: The password is not valid."},
		{"POST", "/users", `{"users": [{"name": "app", "password": "pw", "databases": [{"name": "d"}]}]}`, "User create error: 'd' is not a valid schema name."},
	}
	for _, c := range guestRoutes {
		r := e.do("demo", c.method, p+c.path, c.body)
		if r.Code != 400 || r.faultName() != "badRequest" || r.faultMessage() != c.msg {
			t.Errorf("%s %s %.80s: %d %s, want 400 %q", c.method, c.path, c.body, r.Code, r.Raw, c.msg)
		}
	}
	for _, call := range g.calls {
		if strings.HasPrefix(call, "create_") {
			t.Errorf("the guest was asked to %s", call)
		}
	}

	// Instance create: the same rules before the row, the quota and the cast.
	before := e.count("SELECT COUNT(*) FROM instances")
	casts := len(e.tm.methods())
	inst := func(extra string) string {
		return `{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "mysql", "version": "8.0"}, ` + extra + `}}`
	}
	creates := []struct{ body, msg string }{
		{inst(`"databases": [{"name": "d"}], "users": [{"name": "u", "password": "pw", "databases": [{"name": "d"}]}]`), "'d' is not a valid schema name."},
		{inst(`"databases": [{"name": "app", "character_set": "klingon"}]`), "'klingon' not a valid character set."},
		{inst(`"users": [{"name": "` + long + `", "password": "pw"}]`), "User name '" + strings.Repeat("u", 64) + "…' is too long. Max length = 32."},
		{inst(`"users": [{"name": "ok", "password": "pw"}, {"name": "u'2", "password": "pw"}]`), "'u'2' is not a valid user name."},
		{inst(`"users": [{"name": "ok", "password": "back\\slash"}]`), "The password is not valid."},
	}
	for _, c := range creates {
		r := e.do("demo", "POST", "/v1.0/"+projDemo+"/instances", c.body)
		if r.Code != 400 || r.faultMessage() != c.msg {
			t.Errorf("create %.120s: %d %s, want 400 %q", c.body, r.Code, r.Raw, c.msg)
		}
	}
	if n := e.count("SELECT COUNT(*) FROM instances"); n != before {
		t.Errorf("refused creates left %d instance rows", n-before)
	}
	if n := len(e.tm.methods()); n != casts {
		t.Errorf("refused creates cast %v", e.tm.methods()[casts:])
	}
	// And what the guest accepts still passes.
	if r := e.do("demo", "POST", "/v1.0/"+projDemo+"/instances", inst(`"databases": [{"name": "app", "character_set": "utf8mb4", "collate": "utf8mb4_unicode_ci"}], "users": [{"name": "app", "password": "app-password-1", "databases": [{"name": "app"}]}]`)); r.Code != 200 {
		t.Errorf("valid create: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "POST", p+"/databases", `{"databases": [{"name": "logs", "character_set": "latin1", "collate": "latin1_german2_ci"}]}`); r.Code != 202 {
		t.Errorf("valid database: %d %s", r.Code, r.Raw)
	}
}

// The PostgreSQL rules: encodings, locales, and the names its guest keeps for itself.
func TestPostgreSQLNamesAtCreate(t *testing.T) {
	mgr := managerDefaults["postgresql"]
	cases := []struct {
		req schema.CreateInstance
		msg string
	}{
		{schema.CreateInstance{Databases: []schema.Database{{Name: "app", CharacterSet: "SJIS"}}}, "'SJIS' not a valid character set."},
		{schema.CreateInstance{Databases: []schema.Database{{Name: "app", CharacterSet: "LATIN1", Collate: "en_US.UTF-8"}}}, "en_US.UTF-8 not a valid collation for charset LATIN1."},
		{schema.CreateInstance{Databases: []schema.Database{{Name: "app", Collate: "klingon"}}}, "'klingon' not a valid collation."},
		{schema.CreateInstance{Databases: []schema.Database{{Name: "template9"}}}, "Database name 'template9' is reserved."},
		{schema.CreateInstance{Databases: []schema.Database{{Name: "x"}}}, "'x' is not a valid schema name."},
		{schema.CreateInstance{Users: []schema.User{{Name: "pg_monitor2", Password: "pw"}}}, "User name 'pg_monitor2' is reserved."},
		{schema.CreateInstance{Users: []schema.User{{Name: strings.Repeat("r", 64), Password: "pw"}}}, "User name '" + strings.Repeat("r", 64) + "' is too long. Max length = 63."},
		{schema.CreateInstance{Users: []schema.User{{Name: "app", Password: "pw", Host: "10.0.0.1"}}}, "'10.0.0.1' is not a valid hostname."},
		{schema.CreateInstance{Databases: []schema.Database{{Name: "app", CharacterSet: "UTF8", Collate: "C.UTF-8"}},
			Users: []schema.User{{Name: "app", Password: "it's fine here", Databases: []string{"app"}}}}, ""},
	}
	for _, c := range cases {
		_, _, err := checkDatabasesUsers(&c.req, "postgresql", mgr)
		got := ""
		if err != nil {
			got = asFault(err).Message
		}
		if got != c.msg {
			t.Errorf("%+v: %q, want %q", c.req, got, c.msg)
		}
	}
}

// A rejected password is never in a fault body or a log line, and a 1 MB value grows neither (issue 12: a
// 1 MB bad password came back in the 400 and grew the log by 1 MB).
func TestNoSecretsOrFloodsInBodiesAndLogs(t *testing.T) {
	e := newEnv(t)
	logs := &testenv.Buffer{}
	l := logrus.New()
	l.SetOutput(logs)
	l.SetLevel(logrus.DebugLevel)           // every request logs an access line too
	l.SetFormatter(&logrus.TextFormatter{}) // not the bounded production formatter: the API bounds itself
	e.api.log = logrus.NewEntry(l)
	p, g := activeGuestInstance(t, e)
	g.users["appuser@%"] = guestapi.User{Name: "appuser", Host: "%"}
	const secret = "Hunter2Secret"
	mb := strings.Repeat(secret, (1<<20)/len(secret)-100) // just under the body limit
	inst := `{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": 1}, "datastore": {"type": "mysql"}, `
	reqs := []struct{ method, path, body string }{
		{"POST", p + "/users", `{"users": [{"name": "u1", "password": "` + mb + `"}]}`},
		{"POST", p + "/users", `{"users": [{"name": "u1", "password": "it's-` + secret + `"}]}`},
		{"POST", p + "/users", `{"users": [{"name": "` + strings.Repeat("n", 1<<19) + `", "password": "pw"}]}`},
		{"POST", p + "/users", `{"users": {"name": "u1", "password": "` + secret + `"}}`},
		{"PUT", p + "/users", `{"users": [{"name": "appuser", "password": "it's-` + secret + `"}]}`},
		{"PUT", p + "/users/appuser", `{"user": {"password": "back\\` + secret + `"}}`},
		{"PUT", p + "/users/appuser", `{"user": {"password": ["` + secret + `"]}}`},
		{"POST", p + "/root", `{"password": "` + mb + `"}`},
		{"POST", "/v1.0/" + projDemo + "/instances", inst + `"users": [{"name": "u", "password": "` + mb + `"}]}}`},
		{"POST", "/v1.0/" + projDemo + "/instances", inst + `"users": [{"name": "u", "password": "semi;` + secret + `"}]}}`},
		{"GET", p + "/users/" + strings.Repeat("n", 60000), ""},
		{"GET", "/v1.0/" + projDemo + "/instances/" + strings.Repeat("i", 60000), ""},
	}
	for _, c := range reqs {
		r := e.do("demo", c.method, c.path, bodyOrNil(c.body))
		if r.Code < 400 || r.Code >= 500 || r.faultName() == "" {
			t.Errorf("%s %.60s: %d %.300s", c.method, c.path, r.Code, r.Raw)
		}
		if strings.Contains(r.Raw, secret) || len(r.Raw) > 2000 {
			t.Errorf("%s %.60s %.60s: body of %d bytes repeats the input: %.300s", c.method, c.path, c.body, len(r.Raw), r.Raw)
		}
	}
	out := logs.String()
	if strings.Contains(out, secret) {
		i := strings.Index(out, secret)
		t.Errorf("the log repeats a password: %.300s", out[max(0, i-200):])
	}
	if len(out) > 64<<10 {
		t.Errorf("the log grew by %d bytes for %d requests", len(out), len(reqs))
	}
	if !strings.Contains(out, "The password is not valid.") || !strings.Contains(out, "'***'") {
		t.Errorf("the 4xx messages are not logged: %.2000s", out)
	}
}
