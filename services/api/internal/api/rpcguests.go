package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
)

// RPCGuests reaches guest agents over the message bus with each instance's codec: plaintext for legacy
// instances without a key, else Trove's envelope or AEAD as recorded in rpc_peers.
//
// The key lookup repeats the taskmanager's and conductor's; it belongs in one shared package (see report).
type RPCGuests struct {
	Catalog   *catalog.DB
	Transport *rpc.Transport
	WrapKey   string        // inst_rpc_key_encr_key
	Low, High time.Duration // agent_call_low_timeout / agent_call_high_timeout (0: guestapi defaults)
}

// Guest implements Guests.
func (g RPCGuests) Guest(ctx context.Context, instanceID string) (Guest, error) {
	codec, err := g.codec(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	c := guestapi.New(g.Transport.Client(guestapi.Target(instanceID), codec))
	if g.Low > 0 {
		c.Low = g.Low
	}
	if g.High > 0 {
		c.High = g.High
	}
	return c, nil
}

func (g RPCGuests) codec(ctx context.Context, id string) (rpc.Codec, error) {
	enc, err := g.Catalog.EncryptedKey(ctx, id)
	if err != nil {
		return nil, err
	}
	if enc == "" {
		return rpc.PlainCodec(), nil
	}
	key, err := keyring.Unwrap(g.WrapKey, enc)
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", id, err)
	}
	keys := keyring.Single(key)
	envelope := rpc.EnvelopeTrove
	peer, err := g.Catalog.GetRPCPeer(ctx, id)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if peer.Envelope != "" {
			envelope = rpc.Envelope(peer.Envelope)
		}
		if peer.PreviousEncryptedKey != "" && peer.PreviousValidUntil != nil {
			prev, err := keyring.Unwrap(g.WrapKey, peer.PreviousEncryptedKey)
			if err != nil {
				return nil, fmt.Errorf("instance %s previous key: %w", id, err)
			}
			keys.Previous, keys.PreviousUntil = prev, *peer.PreviousValidUntil
		}
	}
	if envelope == rpc.EnvelopeAEAD {
		return rpc.AEADCodec(keys, id), nil
	}
	return rpc.TroveCodecKeys(keys), nil
}
