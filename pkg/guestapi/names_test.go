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
