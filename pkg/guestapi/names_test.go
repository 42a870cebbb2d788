package guestapi

import (
	"strings"
	"testing"
)

func TestDatabaseNames(t *testing.T) {
	cases := []struct {
		manager, name string
		ok            bool
	}{
		{"mysql", "app", true},
		{"mysql", "my-db_1", true},
		{"mysql", "a", false}, // Trove's dbname regex needs two characters
		{"mysql", "a b", true},
		{"mysql", "a.b", false},
		{"mysql", "a/b", false},
		{"mysql", `a\b`, false},
		{"mysql", "a`b", false},
		{"mysql", "x'; DROP DATABASE mysql; --", false},
		{"mysql", strings.Repeat("d", 64), true},
		{"mysql", strings.Repeat("d", 65), false},
		{"mariadb", "ab\x00c", false},
		{"postgresql", "app", true},
		{"postgresql", "with space", true},
		{"postgresql", "trailing ", false},
		{"postgresql", `x"; DROP DATABASE postgres; --`, true}, // legal in Trove; quoted by the guest
		{"postgresql", strings.Repeat("d", 63), true},
		{"postgresql", strings.Repeat("d", 64), false},
		{"postgresql", "a\nb", false},
	}
	for _, c := range cases {
		r, err := RulesFor(c.manager)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.ValidateDatabaseName(c.name); (err == nil) != c.ok {
			t.Errorf("%s %q: err=%v, want ok=%v", c.manager, c.name, err, c.ok)
		}
	}
}

func TestUserNames(t *testing.T) {
	cases := []struct {
		manager, name, host string
		ok                  bool
	}{
		{"mysql", "app", "%", true},
		{"mysql", "app", "", true},
		{"mysql", "app", "10.0.%.%", true},
		{"mysql", "app", "example.com", false},
		{"mysql", "a'b", "%", false},
		{"mysql", " lead", "%", false},
		{"mysql", "semi;colon", "%", false},
		{"mysql", strings.Repeat("u", 33), "%", false},
		{"mariadb", strings.Repeat("u", 80), "%", true},
		{"mariadb", strings.Repeat("u", 81), "%", false},
		{"postgresql", "app", "%", true},
		{"postgresql", "app", "10.0.0.1", false},
		{"postgresql", strings.Repeat("u", 64), "%", false},
	}
	for _, c := range cases {
		r, _ := RulesFor(c.manager)
		if err := r.ValidateUserName(c.name, c.host); (err == nil) != c.ok {
			t.Errorf("%s %q@%q: err=%v, want ok=%v", c.manager, c.name, c.host, err, c.ok)
		}
	}
}

func TestPasswordErrorHidesPassword(t *testing.T) {
	r, _ := RulesFor("mysql")
	err := r.ValidatePassword("sec'ret")
	if err == nil || strings.Contains(err.Error(), "sec'ret") {
		t.Fatalf("err = %v", err)
	}
	if _, err := RulesFor("redis"); err == nil {
		t.Fatal("redis must be unsupported")
	}
}

// Messages repeat at most redact.Echo characters of a name; the reserved prefixes are the datastore's.
func TestRuleMessagesBoundedAndReserved(t *testing.T) {
	r, err := RulesFor("postgresql")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 10000)
	for _, err := range []error{r.ValidateDatabaseName(long), r.ValidateUserName(long, "%"), r.ValidateUserName("u", long),
		r.ValidateSchema(Schema{Name: "ok", Collate: &long})} {
		if err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), "…") {
			t.Errorf("message not bounded: %.300v", err)
		}
	}
	for name, want := range map[string]bool{"template1": true, "templatex": true, "app": false, "my_template": false} {
		if r.ReservedDatabase(name) != want {
			t.Errorf("ReservedDatabase(%q) != %v", name, want)
		}
	}
	for name, want := range map[string]bool{"pg_monitor": true, "pg_x": true, "app": false, "pgx": false} {
		if r.ReservedUser(name) != want {
			t.Errorf("ReservedUser(%q) != %v", name, want)
		}
	}
	m, _ := RulesFor("mariadb")
	if m.ReservedDatabase("template1") || m.ReservedUser("pg_x") {
		t.Error("mariadb has no reserved prefixes")
	}
}
