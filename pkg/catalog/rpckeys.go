package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trove-go/trove/pkg/keyring"
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

// InstanceKeys returns an instance's RPC keys, unwrapped with wrapKey (inst_rpc_key_encr_key), and its
// envelope: "" for a legacy instance without a key; the rpc_peers envelope, or EnvelopeTrove for a keyed
// instance without a row (made by Python Trove); the previous key while a rotation's overlap lasts. Deleted
// rows are included (their late messages still open). ErrNotFound when no such instance exists.
func (d *DB) InstanceKeys(ctx context.Context, wrapKey, id string) (keyring.KeySet, string, error) {
	enc, err := d.EncryptedKey(ctx, id)
	if err != nil || enc == "" {
		return keyring.KeySet{}, "", err
	}
	key, err := keyring.Unwrap(wrapKey, enc)
	if err != nil {
		return keyring.KeySet{}, "", fmt.Errorf("instance %s: %w", id, err)
	}
	keys, envelope := keyring.Single(key), EnvelopeTrove
	peer, err := d.GetRPCPeer(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return keys, envelope, nil
	}
	if err != nil {
		return keyring.KeySet{}, "", err
	}
	if peer.Envelope != "" {
		envelope = peer.Envelope
	}
	if peer.PreviousEncryptedKey != "" && peer.PreviousValidUntil != nil {
		if keys.Previous, err = keyring.Unwrap(wrapKey, peer.PreviousEncryptedKey); err != nil {
			return keyring.KeySet{}, "", fmt.Errorf("instance %s previous key: %w", id, err)
		}
		keys.PreviousUntil = *peer.PreviousValidUntil
	}
	return keys, envelope, nil
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
