package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// upgrade — cast. Payload logged (upgrade_info holds no secret). Local semantics: stop the server, keep the
// data, rebuild the manager from the rewritten configuration (new server_bin_dir), record
// upgrade_info.datastore_version, start. Not resumed as such, but after an agent restart the server is started
// from the current configuration, which is the same end state.
func (h *Handlers) registerUpgrade(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodUpgrade, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.UpgradeArgs) (void, error) {
			return void{}, h.Agent.Upgrade(context.WithoutCancel(ctx), a.DatastoreVersion())
		})
}
