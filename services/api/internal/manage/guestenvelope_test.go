package manage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
)

// TestInstanceGuestEnvelope: the operator switch, round trip through the real binary and catalog: a Python
// Trove instance recorded trove, upgraded to ours (aead) and back; a keyless one recorded plain; keys never
// change (a rotation's previous key stays); refusals change nothing.
func TestInstanceGuestEnvelope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const wrap = "manage-test-wrap-key-0123456789abcdef"
	conf, dsn := setup(t)
	d := syncedCatalog(t, conf, dsn)
	const key, previous = "instkeyA0123456789abcdefABCDEF01", "previousKey0123456789abcdefABCDE"
	keyed, encKey := instanceWithKey(t, d, wrap, key)
	keyless, _ := instanceWithKey(t, d, wrap, "")
	gone, _ := instanceWithKey(t, d, wrap, "")
	// keyed is mid-rotation: its previous key must survive every switch.
	until := time.Now().Add(time.Hour)
	midRotation(t, d, wrap, keyed, encKey, previous, &until)
	if err := d.DeleteInstance(ctx, gone, 0); err != nil {
		t.Fatal(err)
	}
	recorded := func(id string) string {
		p, err := d.InstancePeer(ctx, wrap, id)
		if err != nil {
			t.Fatal(err)
		}
		return p.Recorded
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
		id     string // whose record to check afterwards
		want   string
	}{
		{"missing envelope", []string{keyed}, 2, "", "the following arguments are required: envelope", keyed, "aead"},
		{"bad envelope", []string{keyed, "python"}, 2, "", `invalid choice: "python"`, keyed, "aead"},
		{"unknown instance", []string{"5f1f1d0e-0000-4000-8000-000000000000", "trove"}, 1, "", "could not be found", keyed, "aead"},
		{"deleted instance", []string{gone, "plain"}, 1, "", "could not be found", gone, ""},
		{"a key is never dropped", []string{keyed, "plain"}, 1, "", "has an RPC key", keyed, "aead"},
		{"a keyless instance has no envelope", []string{keyless, "trove"}, 1, "", "has no RPC key", keyless, ""},
		{"Python guest with Trove's envelope", []string{keyed, "trove"}, 0, "envelope trove recorded (was: aead): Trove's Python guest agent", "", keyed, "trove"},
		{"again", []string{keyed, "trove"}, 0, "envelope trove was already recorded", "", keyed, "trove"},
		{"upgraded to our guest", []string{keyed, "aead"}, 0, "envelope aead recorded (was: trove): the trove-go guest agent", "", keyed, "aead"},
		{"keyless Python guest", []string{keyless, "plain"}, 0, "envelope plain recorded (was: nothing recorded)", "", keyless, "plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, append([]string{"--config-file", conf, "instance_guest_envelope"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("got %+v", r)
			}
			if got := recorded(tc.id); got != tc.want {
				t.Fatalf("recorded %q, want %q", got, tc.want)
			}
		})
	}
	p, err := d.InstancePeer(ctx, wrap, keyed)
	if err != nil || p.Keys.Current != key || p.Keys.Previous != previous || p.Envelope != catalog.EnvelopeAEAD {
		t.Fatalf("keys after the switches: %+v %v", p, err)
	}
	if p, err := d.InstancePeer(ctx, wrap, keyless); err != nil || !p.Keys.Empty() || p.Envelope != "" {
		t.Fatalf("keyless instance: %+v %v", p, err)
	}
	if r := run(t, "--config-file", conf, "instance_guest_envelope", "--help"); r.code != 0 || !strings.Contains(r.stdout, "Keys are never created") {
		t.Fatalf("help: %+v", r)
	}
}
