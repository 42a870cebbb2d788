package catalog

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// RPC envelopes recorded in rpc_peers.envelope.
const (
	EnvelopeTrove = "trove" // Trove's AES-CBC SecureSerializer (interoperable with Python guests)
	EnvelopeAEAD  = "aead"  // our authenticated envelope
	// EnvelopePlain records that a keyless instance runs Trove's Python guest agent (plaintext both ways).
	EnvelopePlain = "plain"
)

// RPCPeer is an rpc_peers row: how a keyed instance talks, and the previous key during a rotation.
type RPCPeer struct {
	InstanceID           string     `db:"instance_id"`
	Envelope             string     `db:"envelope"`
	PreviousEncryptedKey string     `db:"previous_encrypted_key"` // "" when no rotation is in progress
	PreviousValidUntil   *time.Time `db:"previous_valid_until"`
	Updated              time.Time  `db:"updated"`
}

// GetRPCPeer returns an instance's row, or ErrNotFound (an instance created by Python Trove has none: with an
// encrypted_key it speaks the trove envelope, without one plaintext).
func (d *DB) GetRPCPeer(ctx context.Context, instanceID string) (RPCPeer, error) {
	var p RPCPeer
	err := d.x.GetContext(ctx, &p, `SELECT instance_id, envelope, COALESCE(previous_encrypted_key, '') AS previous_encrypted_key,
		previous_valid_until, updated FROM rpc_peers WHERE instance_id = ?`, instanceID)
	return p, notFoundIf(err, fail(ErrNotFound, "No RPC peer record for instance %s.", instanceID))
}

// SetRPCPeer creates or replaces an instance's row (Updated is set to now).
func (d *DB) SetRPCPeer(ctx context.Context, p RPCPeer) error {
	if p.Envelope != EnvelopeTrove && p.Envelope != EnvelopeAEAD {
		return fail(ErrBadRequest, "RPC envelope %q is not one of %q, %q.", p.Envelope, EnvelopeTrove, EnvelopeAEAD)
	}
	return d.upsertPeer(ctx, d.x, p.InstanceID, p.Envelope, p.PreviousEncryptedKey, p.PreviousValidUntil)
}

// upsertPeer writes an rpc_peers row through ex (the pool or a transaction).
func (d *DB) upsertPeer(ctx context.Context, ex sqlx.ExecerContext, id, envelope, previous string, until *time.Time) error {
	var u any
	if until != nil {
		u = until.UTC().Truncate(time.Second)
	}
	_, err := ex.ExecContext(ctx, `INSERT INTO rpc_peers (instance_id, envelope, previous_encrypted_key, previous_valid_until, updated)
		VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE envelope = VALUES(envelope),
		previous_encrypted_key = VALUES(previous_encrypted_key), previous_valid_until = VALUES(previous_valid_until),
		updated = VALUES(updated)`, id, envelope, nullString(previous), u, d.now())
	return err
}
