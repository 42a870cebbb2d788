package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// post_upgrade — call (high timeout). Payload logged. Idempotent: records upgrade_info.datastore_version (after a
// rebuild from the new version's image) and starts the server if it is not healthy.
func (h *Handlers) registerPostUpgrade(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodPostUpgrade, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.UpgradeArgs) (void, error) {
			return void{}, h.Agent.PostUpgrade(ctx, a.DatastoreVersion())
		})
}
