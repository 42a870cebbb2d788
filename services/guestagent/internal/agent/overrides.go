package agent

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// RestartRequired is the heartbeat status while a changed parameter waits for a restart (states.md §1.2).
const RestartRequired datastore.Status = "restart required"

// UpdateOverrides makes overrides the configuration group's values in the file the server reads at start
// (remove: no overrides). Every name whose value changes is pending until apply_overrides applies it or the
// server restarts. The running server is not touched. Safe to repeat.
func (a *Agent) UpdateOverrides(ctx context.Context, overrides map[string]any, remove bool) error {
	values, err := guestapi.OverrideValues(overrides)
	if err != nil {
		return datastore.Errorf(datastore.KindBadRequest, "%s", err.Error())
	}
	if remove {
		values = map[string]string{}
	}
	a.lifecycle.Lock() // no server (re)start reads the file half-written
	defer a.lifecycle.Unlock()
	a.ovrMu.Lock()
	defer a.ovrMu.Unlock()
	o, err := datastore.LoadOverrides(a.d.Layout)
	if err != nil {
		return err
	}
	pending := set(o.Pending)
	for k, v := range values {
		if old, ok := o.Values[k]; !ok || old != v {
			pending[k] = true
		}
	}
	for k := range o.Values {
		if _, ok := values[k]; !ok {
			pending[k] = true
		}
	}
	next := datastore.Overrides{Values: values, Pending: datastore.SortedKeys(pending)}
	if err := a.mgr.WriteOverrides(values); err != nil {
		return err
	}
	if err := datastore.SaveOverrides(a.d.Layout, next); err != nil {
		return err
	}
	a.d.Log.WithField("names", len(values)).WithField("pending", next.Pending).Info("configuration overrides written")
	return nil
}

// ApplyOverrides applies overrides to the running server at once where it allows (dynamic parameters), and
// returns every pending name the group no longer sets to its default. What the server cannot change while it
// runs stays pending until the next restart, and a heartbeat says `restart required`.
func (a *Agent) ApplyOverrides(ctx context.Context, overrides map[string]any) (guestapi.ApplyOverridesResult, error) {
	var r guestapi.ApplyOverridesResult
	values, err := guestapi.OverrideValues(overrides)
	if err != nil {
		return r, datastore.Errorf(datastore.KindBadRequest, "%s", err.Error())
	}
	err = a.Shared(func(m datastore.Manager) error {
		a.ovrMu.Lock()
		defer a.ovrMu.Unlock()
		o, err := datastore.LoadOverrides(a.d.Layout)
		if err != nil {
			return err
		}
		// Only what changed since the server started is applied: a value already in force (a static one
		// among them) is left alone.
		pending := set(o.Pending)
		changed, tried := map[string]string{}, map[string]bool{}
		var reset []string
		for _, k := range o.Pending {
			if _, ok := o.Values[k]; !ok {
				reset = append(reset, k)
				tried[k] = true
			}
		}
		for k, v := range values {
			if pending[k] {
				changed[k] = v
				tried[k] = true
			}
		}
		restart, err := m.ApplyOverrides(ctx, changed, reset)
		if err != nil {
			return err
		}
		for k := range tried {
			delete(pending, k)
		}
		for _, k := range restart {
			if tried[k] {
				pending[k] = true
			}
		}
		o.Pending = datastore.SortedKeys(pending)
		if err := datastore.SaveOverrides(a.d.Layout, o); err != nil {
			return err
		}
		r = guestapi.ApplyOverridesResult{RestartRequired: len(o.Pending) > 0, Pending: o.Pending}
		a.d.Log.WithField("pending", o.Pending).Info("configuration overrides applied")
		return nil
	})
	if err == nil && r.RestartRequired {
		// Once, before the answer, as Trove's guest does: the conductor keeps `restart required` (it ignores
		// heartbeats meanwhile) until the restart sets the status again; a periodic resend could land after
		// that restart and stick.
		a.heartbeat(ctx, RestartRequired)
	}
	return r, err
}

// ResetConfiguration is reset_configuration (Trove: the configuration file before a failed resize). The local
// guest renders its own configuration file: it takes back the flavor settings of the given configuration (the
// old flavor's); the overrides stay as they are. The next start reads them.
func (a *Agent) ResetConfiguration(_ context.Context, contents *string) error {
	return a.saveFlavor(contents)
}

// serverStarted records that the server (re)read its configuration: nothing is pending any more. Called with
// the lifecycle lock held, after a successful (re)start.
func (a *Agent) serverStarted() {
	a.ovrMu.Lock()
	defer a.ovrMu.Unlock()
	o, err := datastore.LoadOverrides(a.d.Layout)
	if err != nil || len(o.Pending) == 0 {
		return
	}
	o.Pending = nil
	if err := datastore.SaveOverrides(a.d.Layout, o); err != nil {
		a.d.Log.WithError(err).Warn("clearing pending configuration overrides")
	}
}

func set(s []string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, k := range s {
		m[k] = true
	}
	return m
}
