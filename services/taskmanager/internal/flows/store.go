package flows

import (
	"context"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// peer is what the flows know of an instance's guest: its RPC keys and envelope, and its agent.
type peer struct {
	rpc.PeerKeys
	Agent guestapi.Agent
}

// peerKeys returns an instance's RPC keys, envelope and guest agent (catalog.InstancePeer); a legacy instance
// has no keys.
func peerKeys(ctx context.Context, db *catalog.DB, wrapKey, id string) (peer, error) {
	p, err := db.InstancePeer(ctx, wrapKey, id)
	return peer{PeerKeys: p.RPC(), Agent: guestapi.AgentFor(p.Recorded)}, err
}
