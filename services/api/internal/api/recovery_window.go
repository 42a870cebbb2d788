package api

import (
	"net/http"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
)

// recoveryWindowView is GET /instances/{id}/recovery_window's body (ours, point-in-time recovery): the times
// restorePoint.restore_time may name for this instance's backups. Earliest is the creation of the oldest
// COMPLETED backup made after the guest shipped its first WAL file (BackupID names it), latest the archive time
// of the last WAL file shipped; both null while there is no such backup or nothing was shipped.
type recoveryWindowView struct {
	Shipping bool    `json:"shipping"`
	Earliest *string `json:"earliest"`
	Latest   *string `json:"latest"`
	BackupID *string `json:"backup_id"`
}

// recoveryWindow is GET /instances/{id}/recovery_window: policy instance:backups, the guest's
// get_recovery_window, and the instance's backups from the catalog.
func (a *API) recoveryWindow(w http.ResponseWriter, r *http.Request) error {
	rc, row, _, g, err := a.guestInstance(r, "instance:backups")
	if err != nil {
		return err
	}
	win, err := g.GetRecoveryWindow(r.Context(), rc.rpcContext())
	if err != nil {
		return guestFault(err)
	}
	view := recoveryWindowView{Shipping: win.Shipping}
	if win.FirstShipped != nil && win.LastShipped != nil {
		backups, _, err := a.cat.ListBackups(r.Context(), catalog.BackupFilter{InstanceID: row.ID})
		if err != nil {
			return err
		}
		var first *catalog.Backup
		for i, b := range backups {
			if b.State == status.BackupCompleted && !b.Created.Before(*win.FirstShipped) && !b.Created.After(*win.LastShipped) &&
				(first == nil || b.Created.Before(first.Created)) {
				first = &backups[i]
			}
		}
		if first != nil {
			earliest, latest := first.Created.UTC().Format(time.RFC3339), win.LastShipped.UTC().Format(time.RFC3339)
			view.Earliest, view.Latest, view.BackupID = &earliest, &latest, &first.ID
		}
	}
	return writeJSON(w, http.StatusOK, map[string]recoveryWindowView{"recovery_window": view})
}
