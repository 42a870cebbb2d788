package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/redact"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// Failure is what the guest could not do for some databases or users of one request; every other one of the
// request was done (nothing is dropped silently). Each item names its database or user and the reason. Errors
// of a datastore kind keep it (errors.As finds the first).
type Failure struct {
	Items []error
}

func (f *Failure) Error() string {
	s := make([]string, len(f.Items))
	for i, e := range f.Items {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

// Unwrap returns the items.
func (f *Failure) Unwrap() []error { return f.Items }

func (f *Failure) add(err error, format string, a ...any) {
	if err != nil {
		f.Items = append(f.Items, fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), err))
	}
}

// err is f, or nil when nothing failed.
func (f *Failure) err() error {
	if len(f.Items) == 0 {
		return nil
	}
	return f
}

// shown is a name as a failure repeats it (a name that was refused may be of any length).
func shown(s string) string { return redact.Trunc(s, redact.Echo) }

// createEach creates the databases, then the users, one at a time with m: one that fails (added to f) does
// not keep the others from being created.
func createEach(ctx context.Context, m datastore.Manager, dbs []guestapi.Schema, users []guestapi.User, f *Failure) {
	for _, d := range dbs {
		f.add(m.CreateDatabases(ctx, []guestapi.Schema{d}), "database %q not created", shown(d.Name))
	}
	for _, u := range users {
		f.add(m.CreateUsers(ctx, []guestapi.User{u}), "user %q not created", shown(u.Name))
	}
}

// CreateDatabases creates each database (create_database): the others are still created when one fails, and
// the error (a *Failure) names every one that was not.
func (a *Agent) CreateDatabases(ctx context.Context, dbs []guestapi.Schema) error {
	return a.Grow(func(m datastore.Manager) error {
		var f Failure
		createEach(ctx, m, dbs, nil, &f)
		return f.err()
	})
}

// CreateUsers creates each user (create_user) like CreateDatabases.
func (a *Agent) CreateUsers(ctx context.Context, users []guestapi.User) error {
	return a.Grow(func(m datastore.Manager) error {
		var f Failure
		createEach(ctx, m, nil, users, &f)
		return f.err()
	})
}

// Reported marks an error the agent already sent to the conductor as a fault (notify_exc_info): the handler
// does not send it again.
type Reported struct{ Err error }

func (r *Reported) Error() string { return r.Err.Error() }
func (r *Reported) Unwrap() error { return r.Err }

// IsReported tells whether err was already reported to the conductor.
func IsReported(err error) bool {
	var r *Reported
	return errors.As(err, &r)
}

// FaultReporter is implemented by a Heartbeater that can also report a fault for the instance
// (notify_exc_info): prepare reports what it could not do before its `failed to spawn` heartbeat.
type FaultReporter interface {
	Fault(ctx context.Context, message string) error
}

// prepareFailed reports a prepare that could not create everything: a fault naming each database/user and the
// reason (before the heartbeat, so the taskmanager finds it), then `failed to spawn`. The server runs and
// keeps what was created; later heartbeats report its actual status (Trove), the build's error task keeps the
// instance in ERROR.
func (a *Agent) prepareFailed(ctx context.Context, failure error) error {
	a.d.Log.WithField("op", "prepare").WithError(failure).Error("prepare: some databases or users were not created")
	return a.reportFault(ctx, "Prepare could not finish: "+failure.Error(), fmt.Errorf("%s: %w", "prepare could not finish", failure))
}

// reportFault sends msg as the instance's fault (before the failed heartbeat, so the taskmanager finds it when
// it sees the build fail), then heartbeats failed to spawn; it returns err, marked Reported when the fault went.
func (a *Agent) reportFault(ctx context.Context, msg string, err error) error {
	if f, ok := a.d.Conductor.(FaultReporter); ok {
		if ferr := f.Fault(ctx, msg); ferr != nil {
			a.d.Log.WithError(ferr).Warn("prepare: fault not reported")
		} else {
			err = &Reported{Err: err}
		}
	}
	a.heartbeat(ctx, datastore.FailedToSpawn)
	return err
}
