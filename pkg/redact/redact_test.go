package redact

import (
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	for _, n := range []string{"password", "root_password", "Password", "new_passwd", "token", "X-Auth-Token",
		"client_secret", "taskmanager_rpc_encr_key", "inst_rpc_key_encr_key", "key", "ssl-key", "credentials"} {
		if !Secret(n) {
			t.Errorf("Secret(%q) = false", n)
		}
	}
	for _, n := range []string{"name", "host", "databases", "character_set", "keyring", "key_buffer_size", "monkey", ""} {
		if Secret(n) {
			t.Errorf("Secret(%q) = true", n)
		}
	}
}

func TestTrunc(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{"ééé", 3, "ééé"},                    // 6 bytes, 3 characters: not cut
		{"éééé", 3, "ééé…"},                  // cut on a character boundary
		{"\xff\xfe\xfd\xfc", 2, "\xff\xfe…"}, // invalid UTF-8: one byte per character
		{strings.Repeat("x", 1<<20), Echo, strings.Repeat("x", Echo) + Ellipsis},
	}
	for _, c := range cases {
		if got := Trunc(c.in, c.n); got != c.want {
			t.Errorf("Trunc(%.20q, %d) = %.80q, want %.80q", c.in, c.n, got, c.want)
		}
	}
	if got := Value("root_password", "hunter2"); got != Mask {
		t.Errorf("Value of a password = %q", got)
	}
	if got := Value("name", strings.Repeat("n", 100)); got != strings.Repeat("n", Echo)+Ellipsis {
		t.Errorf("Value of a long name = %q", got)
	}
}

// Value is an echoed value under a field name: Mask for a secret field, else Trunc(v, Echo).
func Value(name, v string) string {
	if Secret(name) {
		return Mask
	}
	return Trunc(v, Echo)
}
