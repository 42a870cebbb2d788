package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// prepare — cast (version 1.1). Payload NOT logged (root_password, users' passwords). MUST resume after an
// agent restart: the agent saves the args (0600) before starting and Start resumes an unfinished prepare; every
// step is idempotent. A database or user the server refuses does not drop the others; the agent then reports
// a fault naming each (notify_exc_info) and `failed to spawn`, and the build fails (Trove only logs them).
// Forwards trove_notification.
// Write: the instance's later messages wait until it finished (a repeated prepare then finds it done); rpc_ping
// and get_filesystem_stats still answer meanwhile.
func (h *Handlers) registerPrepare(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodPrepare, order: rpc.Write, notify: true},
		func(ctx context.Context, rc rpc.Context, a guestapi.PrepareArgs) (void, error) {
			// a restore reads the backup as the caller (Swift: the user's token)
			return void{}, h.Agent.PrepareFrom(context.WithoutCancel(ctx), a, backupstore.Credentials{Token: rc.AuthToken})
		})
}
