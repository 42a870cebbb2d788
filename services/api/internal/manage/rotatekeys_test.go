package manage_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/keyring"
)

func TestRotateInstRPCKeyEncrKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const oldWrap, newWrap = "old-wrap-key-0123456789abcdef", "new-wrap-key-0123456789abcdef"
	conf, dsn := setup(t)
	b, _ := os.ReadFile(conf)
	if err := os.WriteFile(conf, []byte(strings.Replace(string(b), "[DEFAULT]\n", "[DEFAULT]\ninst_rpc_key_encr_key = "+oldWrap+"\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := syncedCatalog(t, conf, dsn)
	// Two keyed instances (one mid-rotation with a previous key) and a legacy one.
	keys := map[string]string{}
	var ids []string
	for i, k := range []string{"instkeyA0123456789abcdefABCDEF01", "instkeyB0123456789abcdefABCDEF01", ""} {
		id, enc := instanceWithKey(t, d, oldWrap, k)
		ids = append(ids, id)
		keys[id] = k
		if i == 1 {
			midRotation(t, d, oldWrap, id, enc, "previousKey0123456789abcdefABCDE", nil)
		}
	}
	keyFile := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(keyFile, []byte(newWrap+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		var s []string
		for _, id := range ids {
			k, _ := d.EncryptedKey(ctx, id)
			p, _ := d.GetRPCPeer(ctx, id)
			s = append(s, k+"/"+p.PreviousEncryptedKey)
		}
		return strings.Join(s, ",")
	}
	before := snapshot()
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"new key required", nil, 2, "", "--new-key is required"},
		{"default new key refused", []string{"--new-key", keyring.DefaultInstanceWrapKey}, 2, "", "published default"},
		{"same key refused", []string{"--new-key", oldWrap}, 2, "", "equals the old key"},
		{"wrong old key changes nothing", []string{"--old-key", "wrong-old-key-0123456789", "--new-key", newWrap}, 1, "", "nothing changed"},
		{"rotate (old key from the config, new from a file)", []string{"--new-key", "@" + keyFile}, 0, "Re-encrypted 3 instance keys.", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, append([]string{"--config-file", conf, "rotate_inst_rpc_key_encr_key"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("got %+v", r)
			}
			if strings.Contains(r.stdout+r.stderr, newWrap) || strings.Contains(r.stdout+r.stderr, oldWrap) {
				t.Fatal("a key was printed")
			}
			if tc.code != 0 && snapshot() != before {
				t.Fatal("a failed run changed stored keys")
			}
		})
	}
	for _, id := range ids {
		enc, _ := d.EncryptedKey(ctx, id)
		k, err := keyring.Unwrap(newWrap, enc)
		if err != nil || k != keys[id] {
			t.Fatalf("instance key after rotation %q %v, want %q", k, err, keys[id])
		}
	}
	p, _ := d.GetRPCPeer(ctx, ids[1])
	if k, err := keyring.Unwrap(newWrap, p.PreviousEncryptedKey); err != nil || k != "previousKey0123456789abcdefABCDE" {
		t.Fatalf("previous key after rotation %q %v", k, err)
	}
}
