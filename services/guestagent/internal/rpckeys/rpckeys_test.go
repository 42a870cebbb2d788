package rpckeys

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
)

const (
	id   = "3f1c4f0e-inst"
	oldK = "OLDkey0123456789OLDkey0123456789"
	newK = "NEWkey0123456789NEWkey0123456789"
)

func writeInfo(t *testing.T, key string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "guest_info.conf")
	body := "[DEFAULT]\nguest_id=" + id + "\n"
	if key != "" {
		body += "instance_rpc_encr_key=" + key + "\ninstance_rpc_envelope=aead\n"
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// send seals a request as the control plane would with key and decodes it with the guest's server codec.
func send(t *testing.T, k *Keys, key string) error {
	t.Helper()
	m := rpc.Meta{Topic: "guestagent." + id, Method: "list_databases", MsgID: "m", ReplyQ: "r"}
	wa, wc, err := rpc.AEADCodec(keyring.Single(key), id).EncodeRequest(m, map[string]json.RawMessage{"limit": json.RawMessage("1")}, json.RawMessage(`{"request_id":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	args, _, _, err := k.ServerCodec().DecodeRequest(context.Background(), m, wa, wc)
	if err == nil && string(args["limit"]) != "1" {
		t.Fatalf("decoded args %s", args)
	}
	return err
}

func TestRotate(t *testing.T) {
	info := writeInfo(t, oldK)
	k := New(id, oldK, rpc.EnvelopeAEAD, info)
	now := time.Now()
	k.now = func() time.Time { return now }
	if err := send(t, k, oldK); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}
	if err := send(t, k, newK); err == nil {
		t.Fatal("new key accepted before rotation")
	}
	m := rpc.Meta{Topic: "guestagent." + id, Method: "list_databases", MsgID: "m", ReplyQ: "r"}
	wa, wc, err := rpc.AEADCodec(keyring.Single(oldK), id).EncodeRequest(m, map[string]json.RawMessage{"limit": json.RawMessage("1")}, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := k.ServerCodec().DecodeRequest(context.Background(), m, wa, wc); err != nil {
		t.Fatal(err)
	}
	if err := k.Rotate(newK, time.Minute); err != nil {
		t.Fatal(err)
	}
	var replay *rpc.RejectError
	if _, _, _, err := k.ServerCodec().DecodeRequest(context.Background(), m, wa, wc); !errors.As(err, &replay) || replay.Reason != rpc.RejectReplay {
		t.Fatalf("a message seen before the rotation replayed after it: %v", err)
	}
	if err := k.Rotate(newK, time.Minute); err != nil { // a retried call
		t.Fatalf("repeated rotation: %v", err)
	}
	b, _ := os.ReadFile(info)
	if !strings.Contains(string(b), "instance_rpc_encr_key="+newK+"\n") || strings.Contains(string(b), oldK) {
		t.Fatalf("guest_info.conf after rotation:\n%s", b)
	}
	if st, _ := os.Stat(info); st.Mode().Perm() != 0o600 {
		t.Fatalf("guest_info.conf mode %v", st.Mode())
	}
	for _, key := range []string{newK, oldK} {
		if err := send(t, k, key); err != nil {
			t.Fatalf("key %s during the overlap: %v", key[:3], err)
		}
	}
	// Heartbeats now go out under the new key: the conductor with only the new key opens them.
	m = rpc.Meta{Topic: "trove-conductor", Method: "heartbeat"}
	wa, wc, err = k.ConductorCodec().EncodeRequest(m, map[string]json.RawMessage{"instance_id": json.RawMessage(`"` + id + `"`)}, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	host := rpc.ConductorHostCodec(func(context.Context, string) (rpc.PeerKeys, error) {
		return rpc.PeerKeys{Keys: keyring.Single(newK), Envelope: rpc.EnvelopeAEAD}, nil
	})
	if _, _, o, err := host.DecodeRequest(context.Background(), m, wa, wc); err != nil || o.InstanceID != id {
		t.Fatalf("heartbeat under the new key: %v %+v", err, o)
	}
	// After the overlap the old key is refused.
	now = now.Add(2 * time.Minute)
	var rej *rpc.RejectError
	if err := send(t, k, oldK); !errors.As(err, &rej) {
		t.Fatalf("old key after the overlap: %v", err)
	}
	if err := send(t, k, newK); err != nil {
		t.Fatalf("new key after the overlap: %v", err)
	}
}

func TestRotateRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  string
		env  rpc.Envelope
		info string // file content; "" = missing file
		want error
	}{
		{"legacy guest", "", rpc.EnvelopeNone, "[DEFAULT]\n", ErrNoKey},
		{"no key line", oldK, rpc.EnvelopeAEAD, "[DEFAULT]\nguest_id=x\n", nil},
		{"missing file", oldK, rpc.EnvelopeTrove, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "guest_info.conf")
			if tc.info != "" {
				if err := os.WriteFile(p, []byte(tc.info), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			k := New(id, tc.key, tc.env, p)
			err := k.Rotate(newK, time.Minute)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("rotate: %v", err)
			}
			if tc.key != "" {
				if serr := send(t, k, oldK); tc.env == rpc.EnvelopeAEAD && serr != nil {
					t.Fatalf("a failed rotation changed the key: %v", serr)
				}
			}
		})
	}
}
