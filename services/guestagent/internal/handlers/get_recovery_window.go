package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// get_recovery_window — ours, call (low timeout). Read-only: the state of WAL shipping (agent/pitr.go), from
// the agent's state file, not the datastore, so it is unordered like get_filesystem_stats.
func (h *Handlers) registerGetRecoveryWindow(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodGetRecoveryWindow, order: rpc.Unordered, logArgs: true},
		func(_ context.Context, _ rpc.Context, _ guestapi.NoArgs) (guestapi.RecoveryWindow, error) {
			return h.Agent.RecoveryWindow(), nil
		})
}
