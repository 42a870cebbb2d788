package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// start_db_with_conf_changes — call (high timeout). Payload not logged (a whole configuration file). Write.
// The end of a flavor resize: the flavor settings of config_contents (innodb_buffer_pool_size;
// shared_buffers, effective_cache_size) are recorded and the server is started with them (after stop_db).
// Not resumed: the taskmanager waits for the answer and repeats the call; repeating it is harmless.
func (h *Handlers) registerStartDBWithConfChanges(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodStartDBWithConfChanges, order: rpc.Write},
		func(ctx context.Context, _ rpc.Context, a guestapi.StartDBWithConfChangesArgs) (void, error) {
			return void{}, h.Agent.StartDBWithConfChanges(ctx, a.ConfigContents)
		})
}
