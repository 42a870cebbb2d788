package policy

import (
	"os"
	"strings"
	"testing"
)

// docRow renders a rule as its row in docs/policy.md.
func docRow(r Rule) string {
	def := "`" + r.Default + "`"
	switch r.Default {
	case "":
		def = "`\"\"` (anyone)"
	case RuleProjectMember:
		def = "project member"
	case RuleProjectReader:
		def = "project reader"
	}
	up := "`" + r.Upstream + "`"
	if r.Upstream == "" {
		up = "`\"\"`"
	}
	return "| `" + r.Name + "` | " + def + " | " + up + " |"
}

// TestPolicyDoc keeps docs/policy.md's rule table identical to the registered defaults.
func TestPolicyDoc(t *testing.T) {
	data, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "| `") {
			rows = append(rows, line)
		}
	}
	if len(rows) != len(Defaults) {
		t.Errorf("docs/policy.md lists %d rules, %d are registered", len(rows), len(Defaults))
	}
	for i, r := range Defaults {
		if want := docRow(r); i >= len(rows) || rows[i] != want {
			t.Errorf("docs/policy.md row %d: want\n%s", i+1, want)
		}
	}
}
