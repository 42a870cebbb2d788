package api

import (
	"fmt"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
)

// The guest codec follows the instance's keys: none → plaintext, Trove envelope by default, AEAD when recorded;
// the guest agent follows the record: keyless unknown (plain recorded → Trove's), trove → Trove's, aead → ours.
func TestRPCGuestsCodec(t *testing.T) {
	e := newEnv(t)
	g := RPCGuests{Catalog: e.db, WrapKey: e.api.cfg.InstRPCKeyEncrKey}
	keyed := e.createInstance("demo", "keyed")
	e.api.cfg.EnableSecureRPC = false
	plain := e.createInstance("demo", "plain")
	pyPlain := e.createInstance("demo", "pyplain")
	e.api.cfg.EnableSecureRPC = true
	aead := e.createInstance("demo", "aead")
	key, err := keyring.NewInstanceKey()
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := keyring.Wrap(g.WrapKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetInstanceKey(t.Context(), catalog.KeyChange{InstanceID: aead, EncryptedKey: wrapped, Envelope: catalog.EnvelopeAEAD}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.SetPeerEnvelope(t.Context(), pyPlain, catalog.EnvelopePlain); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]struct {
		codec rpc.Codec
		agent guestapi.Agent
	}{
		plain:   {rpc.PlainCodec(), guestapi.AgentUnknown},
		pyPlain: {rpc.PlainCodec(), guestapi.AgentPython},
		keyed:   {rpc.TroveCodec(key), guestapi.AgentPython},
		aead:    {rpc.AEADCodec(keyring.Single(key), aead), guestapi.AgentGo},
	} {
		c, p, err := g.peer(t.Context(), id)
		if err != nil || fmt.Sprintf("%T", c) != fmt.Sprintf("%T", want.codec) || p.Agent != want.agent || p.InstanceID != id {
			t.Errorf("%s: codec %T, peer %+v (%v), want %T, %v", id, c, p, err, want.codec, want.agent)
		}
	}
	if _, _, err := g.peer(t.Context(), "00000000-0000-0000-0000-000000000000"); err == nil {
		t.Errorf("peer of an unknown instance")
	}
}
