package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/keyring"
)

// TestRefuseDefaultKeys: with refuse_default_keys = true, trove-api exits at start when a secure-RPC key is one of
// Trove's public defaults, naming the option (never the key) — before it touches the catalog or Keystone.
func TestRefuseDefaultKeys(t *testing.T) {
	fresh := "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name, tmKey, wrapKey, wantOption string
	}{
		{"taskmanager key", keyring.DefaultTaskmanagerKey, fresh, "taskmanager_rpc_encr_key"},
		{"instance wrap key", fresh, keyring.DefaultInstanceWrapKey, "inst_rpc_key_encr_key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "trove.conf")
			text := "[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = 1\nenable_secure_rpc_messaging = true\nrefuse_default_keys = true\n" +
				"taskmanager_rpc_encr_key = " + tc.tmKey + "\ninst_rpc_key_encr_key = " + tc.wrapKey + "\n" +
				"[database]\nconnection = mysql+pymysql://nobody:x@127.0.0.1:1/none\n"
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, binary, "--config-file", conf).CombinedOutput()
			if err == nil {
				t.Fatalf("trove-api started with a default key; output:\n%s", out)
			}
			if !strings.Contains(string(out), tc.wantOption) {
				t.Errorf("error does not name %s:\n%s", tc.wantOption, out)
			}
			for _, k := range []string{keyring.DefaultTaskmanagerKey, keyring.DefaultInstanceWrapKey} {
				if strings.Contains(string(out), k) {
					t.Errorf("output contains a key:\n%s", out)
				}
			}
		})
	}
}
