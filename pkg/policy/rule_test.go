package policy

import (
	"encoding/json"
	"errors"
	"maps"
	"testing"
	"unicode/utf8"
)

func TestParseAndEval(t *testing.T) {
	member := Credentials{Roles: []string{"member", "reader"}, ProjectID: "p1", UserID: "u1"}
	rules := map[string]expr{"yes": constExpr(true), "loop": checkExpr{"rule", "loop"}}
	tests := []struct {
		rule   string
		target map[string]string
		want   bool
		norm   string // normalised form (String)
	}{
		{"", nil, true, "@"},
		{"   ", nil, true, "@"},
		{"@", nil, true, "@"},
		{"!", nil, false, "!"},
		{"role:member", nil, true, "role:member"},
		{"role:MEMBER", nil, true, "role:MEMBER"},
		{"role:admin", nil, false, "role:admin"},
		{"roles:member", nil, true, "roles:member"},
		{"project_id:%(tenant)s", map[string]string{"tenant": "p1"}, true, "project_id:%(tenant)s"},
		{"project_id:%(tenant)s", map[string]string{"tenant": "p2"}, false, "project_id:%(tenant)s"},
		{"project_id:%(tenant)s", nil, false, "project_id:%(tenant)s"},
		{"project_id:p1", nil, true, "project_id:p1"},
		{"tenant:%(tenant)s", map[string]string{"tenant": "p1"}, true, "tenant:%(tenant)s"},
		{"user_id:%(user_id)s", map[string]string{"user_id": "u1"}, true, "user_id:%(user_id)s"},
		{"project_id:100%%", nil, false, "project_id:100%%"},
		{"is_admin:True", nil, false, "is_admin:True"},
		{"is_admin:False", nil, true, "is_admin:False"},
		{"unknown_attr:x", nil, false, "unknown_attr:x"},
		{"rule:yes", nil, true, "rule:yes"},
		{"rule:missing", nil, false, "rule:missing"},
		{"rule:loop", nil, false, "rule:loop"},
		{"role:admin or role:member", nil, true, "(role:admin or role:member)"},
		{"role:admin OR role:member", nil, true, "(role:admin or role:member)"},
		{"role:admin and role:member", nil, false, "(role:admin and role:member)"},
		{"not role:admin", nil, true, "not role:admin"},
		{"not not role:admin", nil, false, "not not role:admin"},
		{"not role:admin and role:member", nil, true, "(not role:admin and role:member)"},
		// and binds tighter than or
		{"role:member or role:admin and !", nil, true, "(role:member or (role:admin and !))"},
		{"(role:member or role:admin) and !", nil, false, "((role:member or role:admin) and !)"},
		{"((role:admin)) or (role:member and project_id:%(tenant)s)", map[string]string{"tenant": "p1"}, true,
			"(role:admin or (role:member and project_id:%(tenant)s))"},
		// As in oslo, "or" must stand alone: this is one check whose match is "admin)or(role:member".
		{"(role:admin)or(role:member)", nil, false, "role:admin)or(role:member"},
	}
	for _, tc := range tests {
		x, err := parse(tc.rule)
		if err != nil {
			t.Errorf("%q: %v", tc.rule, err)
			continue
		}
		if x.String() != tc.norm {
			t.Errorf("%q: normalised %q, want %q", tc.rule, x.String(), tc.norm)
		}
		c := &evalCtx{rules: rules, creds: member, target: tc.target}
		if got := x.eval(c); got != tc.want {
			t.Errorf("%q: eval %v, want %v", tc.rule, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, rule := range []string{
		"role:admin or", "and role:admin", "(role:admin", "role:admin)", "()", "not", "admin",
		":x", "http://example.com/check", "role:a role:b", "or", ")",
	} {
		if x, err := parse(rule); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: got %v, %v; want ErrSyntax", rule, x, err)
		}
	}
}

func TestIsAdminFlag(t *testing.T) {
	x, err := parse("is_admin:True")
	if err != nil {
		t.Fatal(err)
	}
	if !x.eval(&evalCtx{creds: Credentials{IsAdmin: true}}) {
		t.Error("is_admin:True false for an admin context")
	}
}

// FuzzParse: the parser never panics, and a parsed rule's normal form parses to the same normal form and
// evaluates identically.
func FuzzParse(f *testing.F) {
	for _, r := range Defaults {
		f.Add(r.Default)
	}
	f.Add("not (role:a or !) and @")
	f.Fuzz(func(t *testing.T, rule string) {
		x, err := parse(rule)
		if err != nil {
			return
		}
		y, err := parse(x.String())
		if err != nil {
			t.Fatalf("normal form %q of %q does not parse: %v", x.String(), rule, err)
		}
		if y.String() != x.String() {
			t.Fatalf("normal form not stable: %q → %q", x.String(), y.String())
		}
		for _, creds := range []Credentials{{}, {Roles: []string{"admin", "member", "reader"}, ProjectID: "p", IsAdmin: true}} {
			cx := &evalCtx{rules: map[string]expr{"admin": constExpr(true)}, creds: creds, target: map[string]string{"tenant": "p"}}
			cy := &evalCtx{rules: cx.rules, creds: creds, target: cx.target}
			if x.eval(cx) != y.eval(cy) {
				t.Fatalf("%q and its normal form %q evaluate differently", rule, x.String())
			}
		}
	})
}

// FuzzParseFile: the policy file reader never panics, and what it accepts survives a JSON round trip.
func FuzzParseFile(f *testing.F) {
	f.Add("\"instance:create\": \"rule:admin_or_owner\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseFile([]byte(text))
		if err != nil || !utf8.ValidString(text) {
			return
		}
		js, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseFile(js)
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		if !maps.Equal(m, back) {
			t.Fatalf("round trip changed %q to %q", m, back)
		}
	})
}
