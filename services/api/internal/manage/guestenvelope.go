package manage

import (
	"context"
	"fmt"

	"github.com/trove-go/trove/pkg/catalog"
)

// guestEnvelopes describes each value of instance_guest_envelope: the guest agent it records and what the
// guest itself must be configured with.
var guestEnvelopes = map[string]string{
	catalog.EnvelopeTrove: "Trove's Python guest agent with Trove's envelope, under the instance's key (the guest's guest_info.conf holds it as instance_rpc_encr_key)",
	catalog.EnvelopePlain: "Trove's Python guest agent without a key: plaintext both ways",
	catalog.EnvelopeAEAD:  "the trove-go guest agent with its authenticated envelope, under the same instance key (guest_info.conf: instance_rpc_envelope = aead)",
}

// instance_guest_envelope (ours): record which guest agent an instance runs, per instance, when Python Trove's
// instances move to this control plane and after each one is upgraded to our guest (docs/secure-rpc.md).
func init() {
	commands = append(commands, command{
		name: "instance_guest_envelope",
		help: "Record which guest agent an instance runs and how it talks RPC (rpc_peers): trove = Trove's Python " +
			"guest agent with Trove's envelope (a keyed instance), plain = Trove's Python guest agent without a key, " +
			"aead = the trove-go guest agent (a keyed instance). trove-api, trove-taskmanager and trove-conductor use " +
			"the record from their next message: Trove's agent is sent the versions [upgrade_levels] guestagent allows " +
			"and never our own methods; the conductor accepts only the recorded envelope. Keys are never created, " +
			"changed or removed: trove and aead use the instance's existing key (instances.encrypted_key, which the " +
			"guest holds), plain is only for an instance without one (a key is never dropped; upgrade a keyless " +
			"instance to give it one). Switch when the guest itself switches: messages in the other envelope are " +
			"refused until then.",
		positionals: []arg{
			{"instance_id", "The id of a live instance."},
			{"envelope", "trove, plain or aead."},
		},
		run: func(m *Manager, ctx context.Context, a args) error {
			id, env := a.pos["instance_id"], a.pos["envelope"]
			what, ok := guestEnvelopes[env]
			if !ok {
				return &UsageError{Msg: fmt.Sprintf("argument envelope: invalid choice: %q (choose from trove, plain, aead)", env)}
			}
			d, err := m.catalog()
			if err != nil {
				return err
			}
			before, err := d.SetPeerEnvelope(ctx, id, env)
			if err != nil {
				return err
			}
			if before == env {
				fmt.Fprintf(m.Out, "Instance %s: envelope %s was already recorded: %s.\n", id, env, what)
				return nil
			}
			if before == "" {
				before = "nothing recorded"
			}
			fmt.Fprintf(m.Out, "Instance %s: envelope %s recorded (was: %s): %s. The instance key is unchanged.\n", id, env, before, what)
			return nil
		},
	})
}
