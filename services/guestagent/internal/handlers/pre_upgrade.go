package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// pre_upgrade — call (high timeout). No payload. Read-only: reports the data directory and current version.
func (h *Handlers) registerPreUpgrade(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodPreUpgrade, order: rpc.Read, logArgs: true},
		func(ctx context.Context, _ rpc.Context, _ guestapi.NoArgs) (guestapi.UpgradeInfo, error) {
			return h.Agent.PreUpgrade(ctx)
		})
}
