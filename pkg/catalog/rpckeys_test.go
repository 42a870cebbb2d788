package catalog_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/keyring"
)

func TestSetInstanceKeyAndKeyedInstances(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	keyed := create(t, d, v.ID, "keyed")
	legacy := create(t, d, v.ID, "legacy")
	if err := d.SetEncryptedKey(ctx, legacy.ID, ""); err != nil {
		t.Fatal(err)
	}
	gone := create(t, d, v.ID, "gone")
	if err := d.DeleteInstance(ctx, gone.ID, 2048); err != nil {
		t.Fatal(err)
	}
	ids, err := d.KeyedInstances(ctx, "")
	if err != nil || len(ids) != 1 || ids[0] != keyed.ID {
		t.Fatalf("KeyedInstances = %v %v", ids, err)
	}
	if ids, _ := d.KeyedInstances(ctx, "other-project"); len(ids) != 0 {
		t.Fatalf("other project: %v", ids)
	}

	// The legacy instance gets a key (upgrade), then a rotation keeps the previous one until a deadline.
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name string
		ch   catalog.KeyChange
		kind error
	}{
		{"first key", catalog.KeyChange{InstanceID: legacy.ID, EncryptedKey: "wrapped-1", Envelope: catalog.EnvelopeAEAD}, nil},
		{"rotation", catalog.KeyChange{InstanceID: legacy.ID, EncryptedKey: "wrapped-2", Envelope: catalog.EnvelopeAEAD,
			PreviousEncryptedKey: "wrapped-1", PreviousValidUntil: &until}, nil},
		{"same values again", catalog.KeyChange{InstanceID: legacy.ID, EncryptedKey: "wrapped-2", Envelope: catalog.EnvelopeAEAD,
			PreviousEncryptedKey: "wrapped-1", PreviousValidUntil: &until}, nil},
		{"no key", catalog.KeyChange{InstanceID: legacy.ID, Envelope: catalog.EnvelopeAEAD}, catalog.ErrBadRequest},
		{"bad envelope", catalog.KeyChange{InstanceID: legacy.ID, EncryptedKey: "x", Envelope: "none"}, catalog.ErrBadRequest},
		{"deleted instance", catalog.KeyChange{InstanceID: gone.ID, EncryptedKey: "x", Envelope: catalog.EnvelopeAEAD}, catalog.ErrNotFound},
	} {
		err := d.SetInstanceKey(ctx, c.ch)
		if c.kind != nil {
			assertKind(t, err, c.kind)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		enc, _ := d.EncryptedKey(ctx, legacy.ID)
		p, err := d.GetRPCPeer(ctx, legacy.ID)
		if err != nil || enc != c.ch.EncryptedKey || p.Envelope != c.ch.Envelope || p.PreviousEncryptedKey != c.ch.PreviousEncryptedKey ||
			(c.ch.PreviousValidUntil == nil) != (p.PreviousValidUntil == nil) || (p.PreviousValidUntil != nil && !p.PreviousValidUntil.Equal(until)) {
			t.Fatalf("%s: key %q peer %+v %v", c.name, enc, p, err)
		}
	}
	if ids, _ := d.KeyedInstances(ctx, tenant); len(ids) != 2 {
		t.Fatalf("keyed after upgrade: %v", ids)
	}
	if ids, err := d.PendingRotations(ctx); err != nil || len(ids) != 1 || ids[0] != legacy.ID {
		t.Fatalf("PendingRotations = %v %v", ids, err)
	}
	if err := d.ClearPreviousKey(ctx, legacy.ID); err != nil {
		t.Fatal(err)
	}
	if p, _ := d.GetRPCPeer(ctx, legacy.ID); p.PreviousEncryptedKey != "" || p.PreviousValidUntil != nil || p.Envelope != catalog.EnvelopeAEAD {
		t.Fatalf("after ClearPreviousKey %+v", p)
	}
	if ids, _ := d.PendingRotations(ctx); len(ids) != 0 {
		t.Fatalf("PendingRotations after clearing = %v", ids)
	}
}

func TestRewrapAll(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	a := create(t, d, v.ID, "a") // "wrapped-key"
	b := create(t, d, v.ID, "b")
	if err := d.SetInstanceKey(ctx, catalog.KeyChange{InstanceID: b.ID, EncryptedKey: "cur", Envelope: catalog.EnvelopeAEAD, PreviousEncryptedKey: "prev"}); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteInstance(ctx, a.ID, 2048); err != nil { // deleted rows are rewrapped too
		t.Fatal(err)
	}
	n, err := d.RewrapAll(ctx, func(s string) (string, error) { return "new:" + s, nil })
	if err != nil || n != 3 {
		t.Fatalf("RewrapAll = %d %v", n, err)
	}
	// A failure part way changes nothing.
	_, err = d.RewrapAll(ctx, func(s string) (string, error) {
		if s == "new:prev" {
			return "", errors.New("cannot unwrap")
		}
		return "again:" + s, nil
	})
	if err == nil || !strings.Contains(err.Error(), "cannot unwrap") {
		t.Fatalf("failing rewrap: %v", err)
	}
	ka, _ := d.EncryptedKey(ctx, a.ID)
	kb, _ := d.EncryptedKey(ctx, b.ID)
	p, _ := d.GetRPCPeer(ctx, b.ID)
	if ka != "new:wrapped-key" || kb != "new:cur" || p.PreviousEncryptedKey != "new:prev" {
		t.Fatalf("after rewrap: %q %q %q", ka, kb, p.PreviousEncryptedKey)
	}
}

func TestInstanceKeys(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	const wrapKey, cur, prev = "wrap-key-0123456789abcdef", "current-key-0123456789abcdefABCD", "previous-key-0123456789abcdefABC"
	wrap := func(k string) string {
		w, err := keyring.Wrap(wrapKey, k)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	legacy := create(t, d, v.ID, "legacy")
	pythonKeyed := create(t, d, v.ID, "python")
	rotating := create(t, d, v.ID, "rotating")
	if err := d.SetEncryptedKey(ctx, legacy.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := d.SetEncryptedKey(ctx, pythonKeyed.ID, wrap(cur)); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := d.SetInstanceKey(ctx, catalog.KeyChange{InstanceID: rotating.ID, EncryptedKey: wrap(cur), Envelope: catalog.EnvelopeAEAD,
		PreviousEncryptedKey: wrap(prev), PreviousValidUntil: &until}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, id, wrapKey string
		want              keyring.KeySet
		envelope          string
		err               bool
	}{
		{"legacy", legacy.ID, wrapKey, keyring.KeySet{}, "", false},
		{"keyed without rpc_peers", pythonKeyed.ID, wrapKey, keyring.Single(cur), catalog.EnvelopeTrove, false},
		{"rotating", rotating.ID, wrapKey, keyring.KeySet{Current: cur, Previous: prev, PreviousUntil: until}, catalog.EnvelopeAEAD, false},
		{"wrong wrapping key", rotating.ID, "another-wrap-key-0123456789", keyring.KeySet{}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := d.InstancePeer(ctx, tc.wrapKey, tc.id)
			ks, env := p.RPC().Keys, string(p.RPC().Envelope)
			if (err != nil) != tc.err || env != tc.envelope || ks.Current != tc.want.Current || ks.Previous != tc.want.Previous ||
				!ks.PreviousUntil.Equal(tc.want.PreviousUntil) {
				t.Fatalf("got %+v %q %v", ks, env, err)
			}
		})
	}
	_, err := d.InstancePeer(ctx, wrapKey, "5f1f1d0e-0000-4000-8000-000000000000")
	assertKind(t, err, catalog.ErrNotFound)
}
