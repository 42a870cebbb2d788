package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
)

// KeyChange is one step of an instance's RPC key life (docs/secure-rpc.md), written in one transaction:
// instances.encrypted_key and its rpc_peers row.
type KeyChange struct {
	InstanceID   string
	EncryptedKey string // the new current key, wrapped under inst_rpc_key_encr_key
	Envelope     string // EnvelopeTrove or EnvelopeAEAD
	// PreviousEncryptedKey (wrapped) stays accepted until PreviousValidUntil; "" for none.
	PreviousEncryptedKey string
	PreviousValidUntil   *time.Time
}

// SetInstanceKey applies a KeyChange atomically: a reader never sees the new key without its envelope, or a
// rotated key without the previous one it replaced.
func (d *DB) SetInstanceKey(ctx context.Context, c KeyChange) error {
	if c.EncryptedKey == "" {
		return fail(ErrBadRequest, "An instance key change needs the new key.")
	}
	if c.Envelope != EnvelopeTrove && c.Envelope != EnvelopeAEAD {
		return fail(ErrBadRequest, "RPC envelope %q is not one of %q, %q.", c.Envelope, EnvelopeTrove, EnvelopeAEAD)
	}
	return d.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE instances SET encrypted_key = ?, updated = ? WHERE id = ? AND COALESCE(deleted, 0) = 0",
			c.EncryptedKey, d.now(), c.InstanceID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 { // MariaDB counts changed rows: tell "same values" from "no row"
			var live int
			if err := tx.GetContext(ctx, &live, "SELECT COUNT(*) FROM instances WHERE id = ? AND COALESCE(deleted, 0) = 0", c.InstanceID); err != nil {
				return err
			}
			if live == 0 {
				return fail(ErrNotFound, "Instance %s could not be found.", c.InstanceID)
			}
		}
		return d.upsertPeer(ctx, tx, c.InstanceID, c.Envelope, c.PreviousEncryptedKey, c.PreviousValidUntil)
	})
}

// KeyedInstances returns the ids of live instances with an RPC key, of one project ("" = all), oldest first.
func (d *DB) KeyedInstances(ctx context.Context, tenantID string) ([]string, error) {
	var ids []string
	q := "SELECT id FROM instances WHERE COALESCE(deleted, 0) = 0 AND encrypted_key IS NOT NULL AND encrypted_key <> ''"
	args := []any{}
	if tenantID != "" {
		q += " AND tenant_id = ?"
		args = append(args, tenantID)
	}
	err := d.x.SelectContext(ctx, &ids, q+" ORDER BY created, id", args...)
	return ids, err
}

// RewrapAll re-encrypts every stored instance key — instances.encrypted_key of all rows (deleted ones too: the
// conductor still opens their late messages) and rpc_peers.previous_encrypted_key — with rewrap (unwrap under
// the old inst_rpc_key_encr_key, wrap under the new one), in one transaction: on any error nothing changes.
// It returns how many values were rewritten.
func (d *DB) RewrapAll(ctx context.Context, rewrap func(wrapped string) (string, error)) (int, error) {
	n := 0
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		n = 0
		for _, t := range []struct{ table, key, col string }{
			{"instances", "id", "encrypted_key"},
			{"rpc_peers", "instance_id", "previous_encrypted_key"},
		} {
			var rows []struct {
				ID  string `db:"id"`
				Val string `db:"val"`
			}
			if err := tx.SelectContext(ctx, &rows, fmt.Sprintf("SELECT %s AS id, %s AS val FROM %s WHERE %s IS NOT NULL AND %s <> '' FOR UPDATE",
				t.key, t.col, t.table, t.col, t.col)); err != nil {
				return err
			}
			for _, r := range rows {
				nv, err := rewrap(r.Val)
				if err != nil {
					return fmt.Errorf("%s.%s of %s: %w", t.table, t.col, r.ID, err)
				}
				if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s = ? WHERE %s = ?", t.table, t.col, t.key), nv, r.ID); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// Peer is how an instance's guest talks, from instances.encrypted_key and its rpc_peers row.
type Peer struct {
	Keys keyring.KeySet // the previous key too while a rotation's overlap lasts
	// Envelope is what its messages use: "" without a key (plaintext), else the recorded envelope, or
	// EnvelopeTrove for a keyed instance without a row (made by Python Trove).
	Envelope string
	// Recorded is what is known of its guest agent: the rpc_peers envelope (EnvelopePlain: a keyless Python
	// guest), EnvelopeTrove for a keyed instance without a row, "" for a keyless one without a row (unknown).
	Recorded string
}

// InstancePeer returns an instance's Peer, its keys unwrapped with wrapKey (inst_rpc_key_encr_key), in one
// query. Deleted rows are included (their late messages still open). ErrNotFound when no such instance exists.
func (d *DB) InstancePeer(ctx context.Context, wrapKey, id string) (Peer, error) {
	var r struct {
		Key      sql.NullString `db:"encrypted_key"`
		Envelope sql.NullString `db:"envelope"`
		Previous sql.NullString `db:"previous_encrypted_key"`
		Until    *time.Time     `db:"previous_valid_until"`
	}
	err := d.x.GetContext(ctx, &r, `SELECT i.encrypted_key, p.envelope, p.previous_encrypted_key, p.previous_valid_until
		FROM instances i LEFT JOIN rpc_peers p ON p.instance_id = i.id WHERE i.id = ?`, id)
	if err != nil {
		return Peer{}, notFoundIf(err, instanceNotFound(id))
	}
	if r.Key.String == "" {
		return Peer{Recorded: r.Envelope.String}, nil
	}
	key, err := keyring.Unwrap(wrapKey, r.Key.String)
	if err != nil {
		return Peer{}, fmt.Errorf("instance %s: %w", id, err)
	}
	p := Peer{Keys: keyring.Single(key), Envelope: EnvelopeTrove}
	if r.Envelope.String != "" {
		p.Envelope = r.Envelope.String
	}
	p.Recorded = p.Envelope
	if r.Previous.String != "" && r.Until != nil {
		if p.Keys.Previous, err = keyring.Unwrap(wrapKey, r.Previous.String); err != nil {
			return Peer{}, fmt.Errorf("instance %s previous key: %w", id, err)
		}
		p.Keys.PreviousUntil = *r.Until
	}
	return p, nil
}

// RPC returns what pkg/rpc needs to pick the instance's codec (rpc.GuestCodec) or open its messages
// (rpc.Lookup): its keys and envelope.
func (p Peer) RPC() rpc.PeerKeys {
	return rpc.PeerKeys{Keys: p.Keys, Envelope: rpc.Envelope(p.Envelope)}
}

// SetPeerEnvelope records which guest agent a live instance runs and how it talks (trove-manage
// instance_guest_envelope; the taskmanager at build): EnvelopeTrove (Trove's Python guest) and EnvelopeAEAD
// (our Go guest) need the instance to have a key, EnvelopePlain (Trove's Python guest without secure RPC)
// needs it to have none. The key itself is never created, changed or removed — the same key seals the new
// envelope — and a rotation's previous key is kept. It returns what was recorded before (Peer.Recorded).
// ErrNotFound for an unknown or deleted instance, ErrBadRequest for an envelope that does not fit its key.
func (d *DB) SetPeerEnvelope(ctx context.Context, id, envelope string) (string, error) {
	var before string
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		var r struct {
			Key      sql.NullString `db:"encrypted_key"`
			Envelope sql.NullString `db:"envelope"`
		}
		err := tx.GetContext(ctx, &r, `SELECT i.encrypted_key, p.envelope FROM instances i
			LEFT JOIN rpc_peers p ON p.instance_id = i.id WHERE i.id = ? AND COALESCE(i.deleted, 0) = 0 FOR UPDATE`, id)
		if err != nil {
			return notFoundIf(err, instanceNotFound(id))
		}
		keyed := r.Key.String != ""
		before = r.Envelope.String
		if before == "" && keyed {
			before = EnvelopeTrove
		}
		switch {
		case envelope != EnvelopeTrove && envelope != EnvelopeAEAD && envelope != EnvelopePlain:
			return fail(ErrBadRequest, "RPC envelope %q is not one of %q, %q, %q.", envelope, EnvelopeTrove, EnvelopePlain, EnvelopeAEAD)
		case envelope == EnvelopePlain && keyed:
			return fail(ErrBadRequest, "Instance %s has an RPC key: its guest must use an envelope (%q for Trove's guest agent, %q for ours); a key is never dropped.",
				id, EnvelopeTrove, EnvelopeAEAD)
		case envelope != EnvelopePlain && !keyed:
			return fail(ErrBadRequest, "Instance %s has no RPC key (a legacy instance), so its guest talks plaintext (%q); upgrade it to give it a key.",
				id, EnvelopePlain)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO rpc_peers (instance_id, envelope, updated) VALUES (?, ?, ?)
			ON DUPLICATE KEY UPDATE envelope = VALUES(envelope), updated = VALUES(updated)`, id, envelope, d.now())
		return err
	})
	return before, err
}

// PendingRotations returns the ids of live instances whose rpc_peers row still holds a previous key (a
// rotation in its overlap, or one whose end the taskmanager has not confirmed yet).
func (d *DB) PendingRotations(ctx context.Context) ([]string, error) {
	var ids []string
	err := d.x.SelectContext(ctx, &ids, `SELECT p.instance_id FROM rpc_peers p JOIN instances i ON i.id = p.instance_id
		WHERE COALESCE(i.deleted, 0) = 0 AND p.previous_encrypted_key IS NOT NULL AND p.previous_encrypted_key <> ''
		ORDER BY p.updated, p.instance_id`)
	return ids, err
}

// ClearPreviousKey ends a rotation: the previous key is dropped from the instance's rpc_peers row.
func (d *DB) ClearPreviousKey(ctx context.Context, id string) error {
	_, err := d.x.ExecContext(ctx, "UPDATE rpc_peers SET previous_encrypted_key = NULL, previous_valid_until = NULL, updated = ? WHERE instance_id = ?",
		d.now(), id)
	return err
}
