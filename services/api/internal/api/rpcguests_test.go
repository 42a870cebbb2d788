package api

import (
	"fmt"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
)

// The guest codec follows the instance's keys: none → plaintext, Trove envelope by default, AEAD when recorded.
func TestRPCGuestsCodec(t *testing.T) {
	e := newEnv(t)
	g := RPCGuests{Catalog: e.db, WrapKey: e.api.cfg.InstRPCKeyEncrKey}
	keyed := e.createInstance("demo", "keyed")
	e.api.cfg.EnableSecureRPC = false
	plain := e.createInstance("demo", "plain")
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
	for id, want := range map[string]rpc.Codec{plain: rpc.PlainCodec(), keyed: rpc.TroveCodec(key), aead: rpc.AEADCodec(keyring.Single(key), aead)} {
		c, err := g.codec(t.Context(), id)
		if err != nil || fmt.Sprintf("%T", c) != fmt.Sprintf("%T", want) {
			t.Errorf("%s: codec %T (%v), want %T", id, c, err, want)
		}
	}
	if _, err := g.codec(t.Context(), "00000000-0000-0000-0000-000000000000"); err == nil {
		t.Errorf("codec of an unknown instance")
	}
}
