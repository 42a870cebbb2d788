package flows

import (
	"context"
	"errors"
	"fmt"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
)

// peerKeys returns an instance's RPC keys and envelope: the unwrapped instances.encrypted_key (plus a previous
// key during a rotation, from rpc_peers) and the recorded envelope. A NULL key is a legacy plaintext instance.
func peerKeys(ctx context.Context, db *catalog.DB, wrapKey, id string) (rpc.PeerKeys, error) {
	enc, err := db.EncryptedKey(ctx, id)
	if err != nil {
		return rpc.PeerKeys{}, err
	}
	if enc == "" {
		return rpc.PeerKeys{Envelope: rpc.EnvelopeNone}, nil
	}
	key, err := keyring.Unwrap(wrapKey, enc)
	if err != nil {
		return rpc.PeerKeys{}, fmt.Errorf("instance %s: %w", id, err)
	}
	out := rpc.PeerKeys{Keys: keyring.Single(key), Envelope: rpc.EnvelopeTrove}
	peer, err := db.GetRPCPeer(ctx, id)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return out, nil // keyed instance without an rpc_peers row: Trove's envelope
	case err != nil:
		return rpc.PeerKeys{}, err
	}
	if peer.Envelope != "" {
		out.Envelope = rpc.Envelope(peer.Envelope)
	}
	if peer.PreviousEncryptedKey != "" && peer.PreviousValidUntil != nil {
		prev, err := keyring.Unwrap(wrapKey, peer.PreviousEncryptedKey)
		if err != nil {
			return rpc.PeerKeys{}, fmt.Errorf("instance %s previous key: %w", id, err)
		}
		out.Keys.Previous, out.Keys.PreviousUntil = prev, *peer.PreviousValidUntil
	}
	return out, nil
}

// guestCodec is the codec the control plane uses towards an instance's guest.
func guestCodec(id string, p rpc.PeerKeys) rpc.Codec {
	switch {
	case p.Keys.Empty():
		return rpc.PlainCodec()
	case p.Envelope == rpc.EnvelopeAEAD:
		return rpc.AEADCodec(p.Keys, id)
	}
	return rpc.TroveCodecKeys(p.Keys)
}
