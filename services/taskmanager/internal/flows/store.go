package flows

import (
	"context"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/rpc"
)

// peerKeys returns an instance's RPC keys and envelope (catalog.InstanceKeys); a legacy instance has none.
func peerKeys(ctx context.Context, db *catalog.DB, wrapKey, id string) (rpc.PeerKeys, error) {
	keys, envelope, err := db.InstanceKeys(ctx, wrapKey, id)
	return rpc.PeerKeys{Keys: keys, Envelope: rpc.Envelope(envelope)}, err
}
