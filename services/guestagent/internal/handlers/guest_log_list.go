package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// guest_log_list — call (high timeout). No payload. Read-only: every log the caller may see (the context's
// is_admin: SYS logs and logs [<manager>] guest_log_exposed_logs does not name are admins' only, as Trove).
func (h *Handlers) registerGuestLogList(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodGuestLogList, order: rpc.Read, logArgs: true},
		func(ctx context.Context, rc rpc.Context, _ guestapi.NoArgs) ([]guestapi.GuestLog, error) {
			return h.Agent.GuestLogList(ctx, rc.IsAdmin)
		})
}
