package agent

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// saveFlavor records the flavor settings of a configuration the control plane rendered (prepare's
// config_contents, start_db_with_conf_changes, reset_configuration); nil or a configuration without them
// leaves the record as it is.
func (a *Agent) saveFlavor(contents *string) error {
	if contents == nil {
		return nil
	}
	v, err := guestapi.ParseFlavorConfiguration(*contents)
	if err != nil {
		return datastore.Errorf(datastore.KindBadRequest, "configuration: %v", err)
	}
	if len(v) == 0 {
		return nil
	}
	if err := datastore.SaveFlavorSettings(a.d.Layout, v); err != nil {
		return err
	}
	a.d.Log.WithField("settings", v).Info("flavor settings recorded")
	return nil
}

// StartDBWithConfChanges is the end of a flavor resize (Trove: the server got its new flavor while the database
// was stopped): record the settings rendered for the new flavor and start the server with them (it was stopped
// by stop_db; a running one is restarted).
func (a *Agent) StartDBWithConfChanges(ctx context.Context, contents string) error {
	a.lifecycle.Lock()
	defer a.lifecycle.Unlock()
	if !a.Prepared() {
		return datastore.Errorf(datastore.KindNotRunning, "the guest is not prepared yet")
	}
	if err := a.saveFlavor(&contents); err != nil {
		return err
	}
	if err := a.remove(dbStopped); err != nil {
		return err
	}
	if err := a.mgr.Restart(ctx); err != nil {
		return err
	}
	a.serverStarted()
	go a.heartbeat(context.WithoutCancel(ctx), a.mgr.Status(ctx))
	return nil
}
