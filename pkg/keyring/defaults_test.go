package keyring

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckDefaultKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts map[string]string
		want []string
	}{
		{"fresh keys", map[string]string{"taskmanager_rpc_encr_key": "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4", "inst_rpc_key_encr_key": "f00dfeedf00dfeedf00dfeedf00dfeed"}, nil},
		{"both defaults", map[string]string{"taskmanager_rpc_encr_key": DefaultTaskmanagerKey, "inst_rpc_key_encr_key": DefaultInstanceWrapKey},
			[]string{"inst_rpc_key_encr_key", "taskmanager_rpc_encr_key"}},
		{"one default", map[string]string{"inst_rpc_key_encr_key": DefaultInstanceWrapKey, "taskmanager_rpc_encr_key": "x"}, []string{"inst_rpc_key_encr_key"}},
		{"swapped default still a default", map[string]string{"inst_rpc_key_encr_key": DefaultTaskmanagerKey}, []string{"inst_rpc_key_encr_key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDefaultKeys(tc.opts)
			var de *DefaultKeyError
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			if !errors.As(err, &de) || strings.Join(de.Options, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			for _, o := range tc.want {
				if !strings.Contains(err.Error(), o) {
					t.Fatalf("message %q does not name %s", err, o)
				}
			}
			if strings.Contains(err.Error(), DefaultInstanceWrapKey) || strings.Contains(err.Error(), DefaultTaskmanagerKey) {
				t.Fatal("the message repeats a key")
			}
		})
	}
}

func TestGuardDefaultKeys(t *testing.T) {
	def := map[string]string{"inst_rpc_key_encr_key": DefaultInstanceWrapKey}
	for _, tc := range []struct {
		name            string
		opts            map[string]string
		refuse          bool
		wantErr, warned bool
	}{
		{"default, warn", def, false, false, true},
		{"default, refuse", def, true, true, false},
		{"fresh, refuse", map[string]string{"inst_rpc_key_encr_key": "fresh-key-0123456789"}, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			warned := false
			err := GuardDefaultKeys(tc.opts, tc.refuse, func(error) { warned = true })
			if (err != nil) != tc.wantErr || warned != tc.warned {
				t.Fatalf("err %v warned %v", err, warned)
			}
		})
	}
}
