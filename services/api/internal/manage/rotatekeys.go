package manage

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/trove-go/trove/pkg/keyring"
)

// rotate_inst_rpc_key_encr_key (ours): re-encrypt every stored instance key under a new inst_rpc_key_encr_key.
func init() {
	commands = append(commands, command{
		name: "rotate_inst_rpc_key_encr_key",
		help: "Re-encrypt every stored per-instance RPC key (instances.encrypted_key, deleted rows included, and " +
			"rotation-overlap keys) from the old inst_rpc_key_encr_key to a new one, in one transaction: on any error " +
			"nothing changes. Stop trove-api, trove-taskmanager and trove-conductor first, then set the new key in " +
			"their trove.conf and start them. A value @PATH reads the key from that file (keeps it out of ps).",
		options: []arg{
			{"--old-key", "The current inst_rpc_key_encr_key. Defaults to [DEFAULT] inst_rpc_key_encr_key of the configuration."},
			{"--new-key", "The new inst_rpc_key_encr_key (required): at least 16 characters, not one of Trove's published defaults."},
		},
		run: func(m *Manager, ctx context.Context, a args) error {
			oldKey, err := keyArg(a.opt("--old-key"))
			if err != nil {
				return err
			}
			if oldKey == "" {
				oldKey = m.conf.String("DEFAULT", "inst_rpc_key_encr_key", keyring.DefaultInstanceWrapKey)
			}
			newKey, err := keyArg(a.opt("--new-key"))
			if err != nil {
				return err
			}
			switch {
			case newKey == "":
				return &UsageError{Msg: "argument --new-key is required"}
			case len(newKey) < 16 || strings.ContainsAny(newKey, " \t\r\n"):
				return &UsageError{Msg: "--new-key must be at least 16 characters without whitespace"}
			case keyring.IsTroveDefault(newKey):
				return &UsageError{Msg: "--new-key is one of Trove's published default keys"}
			case newKey == oldKey:
				return &UsageError{Msg: "--new-key equals the old key"}
			}
			d, err := m.catalog()
			if err != nil {
				return err
			}
			n, err := d.RewrapAll(ctx, func(wrapped string) (string, error) {
				k, err := keyring.Unwrap(oldKey, wrapped)
				if err != nil {
					return "", fmt.Errorf("does not decrypt with the old key (wrong --old-key?): %w", err)
				}
				return keyring.Wrap(newKey, k)
			})
			if err != nil {
				return fmt.Errorf("nothing changed: %w", err)
			}
			fmt.Fprintf(m.Out, "Re-encrypted %d instance keys. Set [DEFAULT] inst_rpc_key_encr_key to the new key for trove-api, trove-taskmanager and trove-conductor, then start them.\n", n)
			return nil
		},
	})
}

// keyArg returns v, or the trimmed content of the file named by "@path".
func keyArg(v string) (string, error) {
	if !strings.HasPrefix(v, "@") {
		return v, nil
	}
	b, err := os.ReadFile(v[1:])
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
