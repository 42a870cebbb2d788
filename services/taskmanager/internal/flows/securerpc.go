package flows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/taskapi"
)

// registerSecureRPC adds our key rotation methods (docs/secure-rpc.md).
func (m *Manager) registerSecureRPC(srv *rpc.Server) {
	rpc.Register(srv, taskapi.MethodRotateRPCKey, func(_ context.Context, rc rpc.Context, a taskapi.RotateRPCKeyArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "rotate_rpc_key", func(ctx context.Context) error { return m.RotateRPCKey(ctx, rc, a.InstanceID) })
		return rpc.Void{}, nil
	})
	rpc.Register(srv, taskapi.MethodRotateRPCKeys, func(ctx context.Context, rc rpc.Context, a taskapi.RotateRPCKeysArgs) (rpc.Void, error) {
		n, err := m.RotateRPCKeys(ctx, rc, a.TenantID)
		m.Log.WithField("instances", n).WithField("tenant_id", a.TenantID).Info("rotation of every instance key queued")
		return rpc.Void{}, err
	})
}

// ensurePeer records the envelope of an instance that has no rpc_peers row yet (trove-api stores the key
// only): [DEFAULT] instance_rpc_envelope, aead for our Go guests; trove for Python guest images, where a
// keyless instance is recorded plain (Trove's guest, plaintext) so it is sent what [upgrade_levels] allows.
func (m *Manager) ensurePeer(ctx context.Context, inst catalog.Instance) error {
	env := m.Config.envelope()
	if inst.EncryptedKey == "" && env != catalog.EnvelopeTrove {
		return nil
	}
	_, err := m.Catalog.GetRPCPeer(ctx, inst.ID)
	if !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	if inst.EncryptedKey == "" {
		_, err = m.Catalog.SetPeerEnvelope(ctx, inst.ID, catalog.EnvelopePlain)
		return err
	}
	return m.Catalog.SetRPCPeer(ctx, catalog.RPCPeer{InstanceID: inst.ID, Envelope: env})
}

// giveKey gives a keyless (legacy) instance its first key when secure RPC is on: a fresh crypto/rand key,
// wrapped under inst_rpc_key_encr_key, stored with its envelope in one transaction. From then on the conductor
// refuses the instance's plaintext, so the caller must restart the guest with the key at once (upgrade's
// rebuild). Returns whether a key was given.
func (m *Manager) giveKey(ctx context.Context, id string) (bool, error) {
	enc, err := m.Catalog.EncryptedKey(ctx, id)
	if err != nil || enc != "" || !m.Config.EnableSecureRPC {
		return false, err
	}
	key, err := keyring.NewInstanceKey()
	if err != nil {
		return false, err
	}
	wrapped, err := keyring.Wrap(m.Config.InstRPCKeyEncrKey, key)
	if err != nil {
		return false, err
	}
	if err := m.Catalog.SetInstanceKey(ctx, catalog.KeyChange{InstanceID: id, EncryptedKey: wrapped, Envelope: m.Config.envelope()}); err != nil {
		return false, err
	}
	m.log(id).WithField("envelope", m.Config.envelope()).Info("legacy instance given an RPC key")
	return true, nil
}

// adoptEnvelope records [DEFAULT] instance_rpc_envelope for a keyed instance about to be rebuilt from this
// taskmanager's image (upgrade): the rebuilt guest_info.conf carries it, so a Python guest on Trove's envelope
// replaced by our guest comes back on ours (and is sent our methods). Its key stays. From here the old guest's
// messages in the old envelope are refused; the rebuild follows at once.
func (m *Manager) adoptEnvelope(ctx context.Context, id string) error {
	p, err := peerKeys(ctx, m.Catalog, m.Config.InstRPCKeyEncrKey, id)
	if err != nil || p.Keys.Empty() || string(p.Envelope) == m.Config.envelope() {
		return err
	}
	if _, err := m.Catalog.SetPeerEnvelope(ctx, id, m.Config.envelope()); err != nil {
		return err
	}
	m.log(id).WithField("previous_envelope", p.Envelope).WithField("envelope", m.Config.envelope()).
		Info("rebuilt guest's RPC envelope recorded")
	return nil
}

// RotateRPCKey replaces a keyed instance's key without a rebuild:
//  1. catalog: the new key becomes current, the old one stays accepted until now + rpc_key_rotation_overlap
//     (the conductor then accepts heartbeats under either key);
//  2. guest rotate_rpc_key (call) sealed with the OLD key, carrying the new one; the guest rewrites
//     guest_info.conf and switches, accepting the old key for the same overlap;
//  3. after the overlap the old key is refused everywhere (KeySet.Accepted checks the deadline).
//
// If the guest cannot be reached the catalog goes back to the old key (the new one stays accepted for the
// overlap, in case the guest did switch and only the reply was lost) and a fault is recorded.
func (m *Manager) RotateRPCKey(ctx context.Context, rc rpc.Context, id string) error {
	p, err := peerKeys(ctx, m.Catalog, m.Config.InstRPCKeyEncrKey, id)
	if err != nil {
		return err
	}
	if p.Keys.Empty() {
		err := errors.New("the instance has no RPC key; upgrade it to give it one (a key never travels in plaintext)")
		m.recordFault(ctx, id, "Error rotating the instance's RPC key.", err)
		return err
	}
	// Before anything changes: Trove's guest agent has no rotate_rpc_key.
	if _, err := (guestapi.Peer{InstanceID: id, Agent: p.Agent, Cap: m.Config.GuestCap}).VersionFor(guestapi.MethodRotateRPCKey); err != nil {
		m.recordFault(ctx, id, "Error rotating the instance's RPC key; the key is unchanged.", err)
		return err
	}
	oldKey := p.Keys.Current
	newKey, err := keyring.NewInstanceKey()
	if err != nil {
		return err
	}
	wrapOld, err := keyring.Wrap(m.Config.InstRPCKeyEncrKey, oldKey)
	if err != nil {
		return err
	}
	wrapNew, err := keyring.Wrap(m.Config.InstRPCKeyEncrKey, newKey)
	if err != nil {
		return err
	}
	overlap := m.Config.RotationOverlap
	until := m.TimeNow().Add(overlap)
	env := string(p.Envelope)
	if err := m.Catalog.SetInstanceKey(ctx, catalog.KeyChange{InstanceID: id, EncryptedKey: wrapNew, Envelope: env,
		PreviousEncryptedKey: wrapOld, PreviousValidUntil: &until}); err != nil {
		return err
	}
	// The guest holds only the old key: seal with it (the reply comes back under it too).
	old := p
	old.Keys = keyring.Single(oldKey)
	guest, _, err := m.guestWith(id, old)
	if err != nil {
		return err
	}
	args := guestapi.RotateRPCKeyArgs{NewKey: newKey, OverlapSeconds: overlap.Seconds()}
	err = m.retry(ctx, id, "sending the new key to the guest", func() error {
		err := guest.RotateRPCKey(ctx, rc, args)
		if k := rpc.Kind(err); k != "" && !errors.Is(err, rpc.ErrTimeout) {
			return permanent(err) // the guest answered with a failure: asking again changes nothing
		}
		return err
	})
	if err != nil {
		ctx := context.WithoutCancel(ctx)
		if rerr := m.Catalog.SetInstanceKey(ctx, catalog.KeyChange{InstanceID: id, EncryptedKey: wrapOld, Envelope: env,
			PreviousEncryptedKey: wrapNew, PreviousValidUntil: &until}); rerr != nil {
			m.log(id).WithError(rerr).Error("restoring the old RPC key after a failed rotation")
		}
		if rpc.Kind(err) == "NoSuchMethod" { // an older guest agent: nothing is wrong with the instance
			m.log(id).WithError(err).Warn("the guest agent cannot rotate its key (older version); the old key stays current")
			return err
		}
		m.recordFault(ctx, id, "Error rotating the instance's RPC key; the old key stays current.", err)
		return err
	}
	m.log(id).WithField("overlap_seconds", overlap.Seconds()).Info("instance RPC key rotated")
	return nil
}

// RotateRPCKeys queues a rotation for every keyed instance (of one project, or all) whose guest agent can
// rotate (not Trove's: those are skipped and counted in the log); each runs in its instance's flow queue, so
// it never overlaps another flow of the same instance.
func (m *Manager) RotateRPCKeys(ctx context.Context, rc rpc.Context, tenantID string) (int, error) {
	ids, err := m.Catalog.KeyedInstances(ctx, tenantID)
	if err != nil {
		return 0, fmt.Errorf("listing keyed instances: %w", err)
	}
	n, python := 0, 0
	for _, id := range ids {
		if p, err := peerKeys(ctx, m.Catalog, m.Config.InstRPCKeyEncrKey, id); err == nil && p.Agent == guestapi.AgentPython {
			python++
			continue
		}
		id := id
		m.Go(id, "rotate_rpc_key", func(ctx context.Context) error { return m.RotateRPCKey(ctx, rc, id) })
		n++
	}
	if python > 0 {
		m.Log.WithField("instances", python).Info("keys of instances running Trove's Python guest agent not rotated (it cannot rotate)")
	}
	return n, nil
}

// DefaultRotationOverlap is how long a rotated-out key stays accepted ([DEFAULT] rpc_key_rotation_overlap).
const DefaultRotationOverlap = 60 * time.Second

// FinishRotations checks every instance with a previous key on record (taskmanager start, and each sweep):
// a rotation interrupted between the catalog and the guest, or whose reply was lost, would otherwise leave a
// guest whose heartbeats are refused once the overlap ends. Each runs in the instance's flow queue.
func (m *Manager) FinishRotations(ctx context.Context) error {
	ids, err := m.Catalog.PendingRotations(ctx)
	if err != nil {
		return err
	}
	rc := rpc.Context{RequestID: "req-taskmanager-rotation-check"}
	for _, id := range ids {
		if m.running(id) {
			continue
		}
		id := id
		m.Go(id, "finish rotation", func(ctx context.Context) error { return m.finishRotation(ctx, rc, id) })
	}
	return nil
}

// finishRotation asks the guest which key it holds (rpc_ping under each): the current one → once the overlap
// is over the previous key is dropped; only the previous one → the rotation is sent again, sealed with it,
// with a fresh overlap; neither (guest down) → left for the next sweep.
func (m *Manager) finishRotation(ctx context.Context, rc rpc.Context, id string) error {
	p, err := peerKeys(ctx, m.Catalog, m.Config.InstRPCKeyEncrKey, id)
	if err != nil || p.Keys.Previous == "" {
		return err
	}
	ping := func(key string) error {
		one := p
		one.Keys = keyring.Single(key)
		c, _, err := m.guestWith(id, one)
		if err != nil {
			return err
		}
		_, err = c.RPCPing(ctx, rc)
		return err
	}
	if ping(p.Keys.Current) == nil {
		if !m.TimeNow().Before(p.Keys.PreviousUntil) {
			m.log(id).Info("rotation confirmed; previous RPC key dropped")
			return m.Catalog.ClearPreviousKey(ctx, id)
		}
		return nil
	}
	if err := ping(p.Keys.Previous); err != nil {
		m.log(id).WithError(err).Info("guest answers under neither key; rotation check retried at the next sweep")
		return nil
	}
	m.log(id).Warn("guest still holds the previous RPC key; sending the rotation again")
	wrapCur, err := keyring.Wrap(m.Config.InstRPCKeyEncrKey, p.Keys.Current)
	if err != nil {
		return err
	}
	wrapPrev, err := keyring.Wrap(m.Config.InstRPCKeyEncrKey, p.Keys.Previous)
	if err != nil {
		return err
	}
	until := m.TimeNow().Add(m.Config.RotationOverlap)
	if err := m.Catalog.SetInstanceKey(ctx, catalog.KeyChange{InstanceID: id, EncryptedKey: wrapCur, Envelope: string(p.Envelope),
		PreviousEncryptedKey: wrapPrev, PreviousValidUntil: &until}); err != nil {
		return err
	}
	old := p
	old.Keys = keyring.Single(p.Keys.Previous)
	guest, _, err := m.guestWith(id, old)
	if err != nil {
		return err
	}
	return guest.RotateRPCKey(ctx, rc, guestapi.RotateRPCKeyArgs{NewKey: p.Keys.Current, OverlapSeconds: m.Config.RotationOverlap.Seconds()})
}
