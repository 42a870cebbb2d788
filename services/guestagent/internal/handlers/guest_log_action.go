package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keystone"
	"github.com/trove-go/trove/pkg/rpc"
)

// guest_log_action — call (high timeout). Payload logged (log name and flags; the user's token travels in the
// context, never logged). Write: enabling or disabling a log changes the server's settings, and a publish
// after a cast sees what that cast did. Publish and discard act on the store as the caller: Swift with the
// context's token at the object-store endpoint of the context's service catalog (Trove's guest builds its
// Swift client the same way); the directory and S3 drivers as configured.
func (h *Handlers) registerGuestLogAction(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodGuestLogAction, order: rpc.Write, logArgs: true},
		func(ctx context.Context, rc rpc.Context, a guestapi.GuestLogActionArgs) (guestapi.GuestLog, error) {
			creds := backupstore.Credentials{Token: rc.AuthToken}
			if url, err := keystone.ServiceURL(rc.ServiceCatalog, "object-store", "public", ""); err == nil {
				creds.StorageURL = url
			}
			return h.Agent.GuestLogAction(ctx, a, rc.IsAdmin, creds)
		})
}
