package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

type testFile struct {
	Path        string `yaml:"path"`
	Content     string `yaml:"content,omitempty"`
	Encoding    string `yaml:"encoding,omitempty"`
	Permissions string `yaml:"permissions,omitempty"`
	Owner       string `yaml:"owner,omitempty"`
}

// cloudConfigDoc renders files as a #cloud-config document with yaml.v3, as a compute driver would.
func cloudConfigDoc(t *testing.T, files []testFile) []byte {
	t.Helper()
	b, err := yaml.Marshal(map[string]any{"write_files": files})
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte("#cloud-config\n"), b...)
}

func TestCloudConfigRoundTripLayout(t *testing.T) {
	guestInfo := "[DEFAULT]\nguest_id = 0b7e3f4c\ndatastore_manager = mariadb\n# trailing spaces kept:   \n"
	agentConf := "[DEFAULT]\ntransport_url = rabbit://u:p@127.0.0.1:5672/\n\n[mariadb]\nignore_users = os_admin\n"
	binary := []byte{0, 1, 2, 0xff, 0xfe, '\n', '\r', 0x80}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("compressed text\n"))
	_ = zw.Close()
	doc := cloudConfigDoc(t, []testFile{
		{Path: "/etc/trove/conf.d/guest_info.conf", Content: guestInfo, Permissions: "0600", Owner: "trove:trove"},
		{Path: "/etc/trove/conf.d/trove-guestagent.conf", Content: base64.StdEncoding.EncodeToString([]byte(agentConf)),
			Encoding: "b64", Permissions: "0640"},
		{Path: "/opt/blob.bin", Content: base64.StdEncoding.EncodeToString(binary), Encoding: "base64"},
		{Path: "/opt/gz.txt", Content: base64.StdEncoding.EncodeToString(gz.Bytes()), Encoding: "gzip+b64", Permissions: "0o400"},
		{Path: "/empty"},
	})
	files, err := ParseCloudConfig(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		content []byte
		perm    os.FileMode
	}{
		"/etc/trove/conf.d/guest_info.conf":       {[]byte(guestInfo), 0o600},
		"/etc/trove/conf.d/trove-guestagent.conf": {[]byte(agentConf), 0o640},
		"/opt/blob.bin": {binary, 0o644},
		"/opt/gz.txt":   {[]byte("compressed text\n"), 0o400},
		"/empty":        {nil, 0o644},
	}
	if len(files) != len(want) {
		t.Fatalf("parsed %d files, want %d", len(files), len(want))
	}
	if files[0].Owner != "trove:trove" || files[2].Owner != "root:root" {
		t.Errorf("owners %q %q", files[0].Owner, files[2].Owner)
	}
	root := t.TempDir()
	if err := Layout(root, files, -1, -1); err != nil {
		t.Fatal(err)
	}
	// A second layout (a rebuild over an existing tree) still gives exact contents and modes.
	if err := os.Chmod(filepath.Join(root, "opt/gz.txt"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := Layout(root, files, -1, -1); err != nil {
		t.Fatal(err)
	}
	for p, w := range want {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, w.content) {
			t.Errorf("%s: content %q, want %q", p, got, w.content)
		}
		st, _ := os.Stat(filepath.Join(root, p))
		if st.Mode().Perm() != w.perm {
			t.Errorf("%s: mode %o, want %o", p, st.Mode().Perm(), w.perm)
		}
	}
	if m := datastoreManager(files); m != "mariadb" {
		t.Errorf("datastoreManager = %q", m)
	}
}

// TestCloudConfigPermissionsAsCloudInit: YAML integers in decimal are taken as they are, octal-looking ones
// (unquoted 0600, as PyYAML reads them) as octal — cloud-init's decode_perms.
func TestCloudConfigPermissionsAsCloudInit(t *testing.T) {
	doc := "#cloud-config\nwrite_files:\n- path: /a\n  permissions: 0600\n- path: /b\n  permissions: 420\n- path: /c\n  permissions: '0755'\n"
	files, err := ParseCloudConfig([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []os.FileMode{0o600, 0o644, 0o755} {
		if files[i].Perm != want {
			t.Errorf("%s: %o, want %o", files[i].Path, files[i].Perm, want)
		}
	}
}

func TestCloudConfigRefusals(t *testing.T) {
	for name, doc := range map[string]string{
		"not cloud-config": "#!/bin/sh\necho hi\n",
		"relative path":    "#cloud-config\nwrite_files:\n- path: etc/x\n",
		"dot-dot":          "#cloud-config\nwrite_files:\n- path: /etc/../../x\n",
		"bad encoding":     "#cloud-config\nwrite_files:\n- path: /x\n  encoding: rot13\n  content: abc\n",
		"bad base64":       "#cloud-config\nwrite_files:\n- path: /x\n  encoding: b64\n  content: '***'\n",
		"bad perms":        "#cloud-config\nwrite_files:\n- path: /x\n  permissions: '0999'\n",
	} {
		if _, err := ParseCloudConfig([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestServerAddress(t *testing.T) {
	s := Server{Addresses: map[string][]address{
		"trove-mgmt": {{Addr: "127.10.0.5", Version: 4, Type: "fixed"}},
		"tenant-b":   {{Addr: "fd00::5", Version: 6, Type: "fixed"}, {Addr: "127.20.0.7", Version: 4, Type: "fixed"}},
		"tenant-a":   {{Addr: "127.30.0.9", Version: 4, Type: "floating"}},
	}}
	if got := s.Address("trove-mgmt"); got != "127.20.0.7" {
		t.Errorf("address %q, want the tenant's fixed IPv4 127.20.0.7", got)
	}
	one := Server{Addresses: map[string][]address{"trove-mgmt": {{Addr: "127.10.0.6", Version: 4}}}}
	if got := one.Address("trove-mgmt"); got != "127.10.0.6" {
		t.Errorf("single address %q", got)
	}
}

func TestReadEnvFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "env")
	text := "# comment\nOS_AUTH_URL=http://127.0.0.1:5000/v3\nexport OS_USERNAME='admin'\nOS_PASSWORD=\"p w\"\n\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := ReadEnvFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if env["OS_AUTH_URL"] != "http://127.0.0.1:5000/v3" || env["OS_USERNAME"] != "admin" || env["OS_PASSWORD"] != "p w" {
		t.Errorf("env %v", env)
	}
}
