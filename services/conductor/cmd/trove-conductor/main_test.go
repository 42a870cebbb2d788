package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/testenv"
)

// The conductor started with Trove's published inst_rpc_key_encr_key warns loudly (without printing the key)
// and serves; with refuse_default_keys = true it exits at once. A fresh key starts silently.
func TestDefaultKeyGuard(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "trove-conductor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dsn := testenv.NewDatabase(t)
	db, err := catalog.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, tc := range []struct {
		name, key string
		refuse    bool
		exits     bool
		warns     bool
	}{
		{"default key warns", keyring.DefaultInstanceWrapKey, false, false, true},
		{"default key refused", keyring.DefaultInstanceWrapKey, true, true, false},
		{"fresh key", "fresh-wrap-key-0123456789abcdef", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "trove.conf")
			text := fmt.Sprintf("[DEFAULT]\ntransport_url = %s\ncontrol_exchange = %s\nconductor_queue = %s\ninst_rpc_key_encr_key = %s\nrefuse_default_keys = %v\n[database]\nconnection = %s\n",
				testenv.TransportURL(t), testenv.UniqueName(t, "trove-test"), testenv.UniqueName(t, "cond"), tc.key, tc.refuse, dsn)
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			var out testenv.Buffer
			cmd := exec.Command(bin, "--config-file", conf)
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var exitErr error
			exited := false
			// Serving is logged once started; a refusal exits before.
			for i := 0; i < 400 && !exited && !strings.Contains(out.String(), "conductor serving"); i++ {
				select {
				case exitErr = <-done:
					exited = true
				case <-time.After(25 * time.Millisecond):
				}
			}
			if !exited {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				<-done
			}
			log := out.String()
			if exited != tc.exits || (tc.exits && exitErr == nil) {
				t.Fatalf("exited %v (%v), want exit %v:\n%s", exited, exitErr, tc.exits, log)
			}
			if strings.Contains(log, "SECURITY WARNING") != tc.warns || strings.Contains(log, tc.key) {
				t.Fatalf("warning %v expected, key must never show:\n%s", tc.warns, log)
			}
			if tc.exits && !strings.Contains(log, "inst_rpc_key_encr_key") {
				t.Fatalf("refusal does not name the option:\n%s", log)
			}
		})
	}
}
