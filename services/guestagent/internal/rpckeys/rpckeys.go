// Package rpckeys holds the guest's instance RPC key and the codecs built from it, and switches both at run
// time when the control plane rotates the key (rotate_rpc_key, docs/secure-rpc.md): the new key is written to
// guest_info.conf first (so a restarted agent uses it), then the server accepts the new and, for an overlap,
// the old key, and heartbeats go out under the new key.
package rpckeys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
)

// Keys is the guest's key state.
type Keys struct {
	id       string
	envelope rpc.Envelope
	infoPath string // guest_info.conf, rewritten on rotation
	now      func() time.Time

	mu        sync.Mutex // serializes rotations
	current   string
	aead      *rpc.AEADCodecOf // the server's AEAD codec (aead envelope), replaced by rotations
	server    swap
	conductor swap
}

// New returns the key state of guest id with key ("" = plaintext) in envelope env; infoPath is the
// guest_info.conf that holds instance_rpc_encr_key.
func New(id, key string, env rpc.Envelope, infoPath string) *Keys {
	k := &Keys{id: id, envelope: env, infoPath: infoPath, now: time.Now, current: key}
	k.server.set(k.serverCodec(keyring.Single(key)))
	k.conductor.set(rpc.ConductorGuestCodec(id, key, env))
	return k
}

// ServerCodec is the codec of the guest's RPC server (follows rotations).
func (k *Keys) ServerCodec() rpc.Codec { return &k.server }

// ConductorCodec is the codec of the guest's casts to the conductor (follows rotations).
func (k *Keys) ConductorCodec() rpc.Codec { return &k.conductor }

// Envelope is the guest's envelope format.
func (k *Keys) Envelope() rpc.Envelope { return k.envelope }

// serverCodec builds the server codec for keys on the state's clock.
func (k *Keys) serverCodec(keys keyring.KeySet) rpc.Codec {
	switch {
	case keys.Empty() || k.envelope == rpc.EnvelopeNone:
		return rpc.PlainCodec()
	case k.envelope == rpc.EnvelopeAEAD:
		if k.aead != nil { // a rotation: keep the replay cache, so nothing seen before can be replayed after
			k.aead = k.aead.WithKeys(keys)
		} else {
			k.aead = rpc.AEADCodec(keys, k.id)
			k.aead.Now = k.clock
		}
		return k.aead
	}
	return &rpc.TroveCodecOf{Keys: keys, Now: k.clock}
}

func (k *Keys) clock() time.Time { return k.now() }

// ErrNoKey is returned when a keyless (legacy) guest is asked to rotate: a key must never travel in plaintext.
var ErrNoKey = errors.New("this guest has no RPC key; a key is given by an upgrade, never in plaintext")

// Rotate switches to newKey: guest_info.conf first, then the server codec (old key still accepted for
// overlap) and the conductor codec. Rotating to the current key again is a no-op (a retried call).
func (k *Keys) Rotate(newKey string, overlap time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current == "" || k.envelope == rpc.EnvelopeNone {
		return ErrNoKey
	}
	if newKey == k.current {
		return nil
	}
	if err := SetInfoKey(k.infoPath, newKey); err != nil {
		return err
	}
	old := k.current
	k.current = newKey
	k.server.set(k.serverCodec(keyring.KeySet{Current: newKey, Previous: old, PreviousUntil: k.now().Add(overlap)}))
	k.conductor.set(rpc.ConductorGuestCodec(k.id, newKey, k.envelope))
	return nil
}

// SetInfoKey replaces instance_rpc_encr_key in guest_info.conf atomically (temporary file + rename, 0600).
func SetInfoKey(path, key string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	found := false
	for i, l := range lines {
		if k, _, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == "instance_rpc_encr_key" {
			lines[i], found = "instance_rpc_encr_key="+key, true
		}
	}
	if !found {
		return fmt.Errorf("%s has no instance_rpc_encr_key to replace", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".guest_info.*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// swap is a Codec whose implementation can be replaced while messages flow.
type swap struct{ p atomic.Pointer[rpc.Codec] }

func (s *swap) set(c rpc.Codec) { s.p.Store(&c) }
func (s *swap) get() rpc.Codec  { return *s.p.Load() }

func (s *swap) EncodeRequest(m rpc.Meta, args map[string]json.RawMessage, rc json.RawMessage) (map[string]json.RawMessage, map[string]json.RawMessage, error) {
	return s.get().EncodeRequest(m, args, rc)
}

func (s *swap) DecodeRequest(ctx context.Context, m rpc.Meta, wargs, wctx map[string]json.RawMessage) (map[string]json.RawMessage, json.RawMessage, rpc.Origin, error) {
	return s.get().DecodeRequest(ctx, m, wargs, wctx)
}

// EncodeResult seals a reply. The Origin came from the codec in place when the request arrived; a rotation in
// between still seals with the key that opened the request (the origin carries it).
func (s *swap) EncodeResult(m rpc.Meta, o rpc.Origin, r json.RawMessage) (json.RawMessage, error) {
	return s.get().EncodeResult(m, o, r)
}

func (s *swap) DecodeResult(m rpc.Meta, r json.RawMessage) (json.RawMessage, error) {
	return s.get().DecodeResult(m, r)
}
