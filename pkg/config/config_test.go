package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestGetters(t *testing.T) {
	f, err := Parse("[DEFAULT]\nbind_port = 8779\nenable_secure_rpc_messaging = False\nadmin_roles = admin, ops,\nusage_timeout = 1.5\n[database]\nconnection = mysql+pymysql://u:p@127.0.0.1/trove\nbad = x\n")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"int", f.Int("DEFAULT", "bind_port", 1), 8779},
		{"int default", f.Int("DEFAULT", "missing", 7), 7},
		{"bool", f.Bool("", "enable_secure_rpc_messaging", true), false},
		{"string", f.String("database", "connection", ""), "mysql+pymysql://u:p@127.0.0.1/trove"},
		{"list", len(f.List("DEFAULT", "admin_roles", nil)), 2},
		{"seconds", f.Seconds("DEFAULT", "usage_timeout", 0), 1500 * time.Millisecond},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if keys := f.Keys("database"); len(keys) != 2 || keys[0] != "connection" || keys[1] != "bad" {
		t.Errorf("Keys(database) = %v", keys)
	}
	if keys := f.Keys("absent"); keys != nil {
		t.Errorf("Keys(absent) = %v, want none", keys)
	}
	if f.Err() != nil {
		t.Fatalf("unexpected error: %v", f.Err())
	}
	f.Int("database", "bad", 0)
	if f.Err() == nil {
		t.Fatal("want an error for a non-integer")
	}
}

func TestLoadOrder(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.conf")
	os.WriteFile(a, []byte("[DEFAULT]\nx = 1\ny = 1\n"), 0o600)
	cd := filepath.Join(dir, "conf.d")
	os.Mkdir(cd, 0o700)
	os.WriteFile(filepath.Join(cd, "guest_info.conf"), []byte("[DEFAULT]\nx = 2\n"), 0o600)
	os.WriteFile(filepath.Join(cd, "trove-guestagent.conf"), []byte("[DEFAULT]\nx = 3\n"), 0o600)
	f, err := Load(Paths{Files: []string{a}, Dirs: []string{cd}})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Int("DEFAULT", "x", 0); got != 3 {
		t.Errorf("x = %d, want 3 (last file wins)", got)
	}
	if got := f.Int("DEFAULT", "y", 0); got != 1 {
		t.Errorf("y = %d, want 1", got)
	}
	if _, err := Load(Paths{Files: []string{filepath.Join(dir, "nope.conf")}}); err == nil {
		t.Error("missing file must be an error")
	}
}

func TestFromCommandLine(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.conf")
	os.WriteFile(a, []byte("[DEFAULT]\nx = 1\n"), 0o600)
	b := filepath.Join(dir, "b.conf")
	os.WriteFile(b, []byte("[DEFAULT]\nx = 2\n"), 0o600)
	tests := []struct {
		args    []string
		want    int
		wantErr bool
	}{
		{nil, 1, false}, // defaults
		{[]string{"--config-file", b}, 2, false},
		{[]string{"--config-file", a, "--config-file", b}, 2, false},
		{[]string{"--config-file", filepath.Join(dir, "missing.conf")}, 0, true},
		{[]string{"--no-such-flag"}, 0, true},
	}
	for _, tc := range tests {
		f, err := FromCommandLine("svc", tc.args, Paths{Files: []string{a}})
		if (err != nil) != tc.wantErr {
			t.Fatalf("%v: err = %v, wantErr %v", tc.args, err, tc.wantErr)
		}
		if err == nil && f.Int("DEFAULT", "x", 0) != tc.want {
			t.Errorf("%v: x = %d, want %d", tc.args, f.Int("DEFAULT", "x", 0), tc.want)
		}
	}
}
