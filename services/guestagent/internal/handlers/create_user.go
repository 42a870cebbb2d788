package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// create_user — cast. Payload NOT logged (passwords). Not resumed; idempotent (create or reset password, then
// grant). Refused when the volume is full. Each user on its own. Forwards trove_notification; a failure without
// one is still reported (notify_exc_info → a fault on the instance naming the user).
func (h *Handlers) registerCreateUser(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodCreateUser, order: rpc.Write, notify: true, fault: classUserCreate},
		func(ctx context.Context, _ rpc.Context, a guestapi.CreateUserArgs) (void, error) {
			return void{}, h.Agent.CreateUsers(ctx, a.Users)
		})
}
