package flows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/notification"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// Deps are the manager's collaborators.
type Deps struct {
	Catalog   *catalog.DB
	Compute   compute.Driver
	Transport *rpc.Transport
	Config    Config
	Log       logrus.FieldLogger
	// TimeNow is the clock deadlines are computed with (tests move it); nil means time.Now.
	TimeNow func() time.Time
	// Storage opens backup stores (delete_backup); nil: backup objects are not deleted (DELETE_FAILED).
	Storage Storage
	// Broker gives each guest its own broker account ([guest_broker] per_guest_accounts); nil: guests get
	// guest_config's account unchanged (Trove's shared account).
	Broker GuestAccounts
	// Notify emits usage events and ends the API's dbaas.* notifications; nil emits nothing.
	Notify *notification.Notifier
	// Metrics counts flows in progress and failed per kind; nil counts nothing.
	Metrics FlowMetrics
}

// FlowMetrics is told when a flow of a kind (create, delete, …) starts and how it ends (metrics.Taskmanager).
type FlowMetrics interface {
	FlowStarted(kind string)
	FlowEnded(kind string, err error)
}

// GuestAccounts issues and revokes guests' broker accounts (guestbroker.Accounts).
type GuestAccounts interface {
	// GuestConfig gives the instance's guest its own account (a fresh password on every call) and returns
	// guestConfig rewritten to use it; python: the guest agent is Trove's Python agent.
	GuestConfig(ctx context.Context, instanceID, guestConfig string, python bool) (string, error)
	// Revoke removes the instance's guest account; a missing one is fine.
	Revoke(ctx context.Context, instanceID string) error
}

// Manager runs flows. RPC handlers start a flow in the background and return at once (every taskmanager
// method is a cast); flows of one instance run one after another, in arrival order.
type Manager struct {
	Deps
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	queues map[string][]job // instance id → flows waiting behind the running one; present while one runs
	watch  *failoverWatch   // automatic failover's view of the replication sources (failover.go)
}

type job struct {
	flow string
	fn   func(ctx context.Context) error
}

// New returns a manager; Stop cancels its running flows (they resume at the next start).
func New(d Deps) *Manager {
	if d.TimeNow == nil {
		d.TimeNow = time.Now
	}
	if d.Config.RotationOverlap <= 0 {
		d.Config.RotationOverlap = DefaultRotationOverlap
	}
	if d.Config.HeartbeatExpiry <= 0 {
		d.Config.HeartbeatExpiry = 90 * time.Second
	}
	if d.Config.BackupPollInterval <= 0 {
		d.Config.BackupPollInterval = 2 * time.Second
	}
	if d.Config.RetryBudget <= 0 {
		d.Config.RetryBudget = 1
	}
	if d.Config.Quotas == (catalog.Defaults{}) {
		d.Config.Quotas = catalog.TroveDefaults
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{Deps: d, ctx: ctx, cancel: cancel, queues: map[string][]job{}, watch: &failoverWatch{down: map[string]time.Time{}}}
}

// Register adds the taskmanager methods to an RPC server (topic taskmanager_queue, version 1.0).
func (m *Manager) Register(srv *rpc.Server) {
	rpc.Register(srv, taskapi.MethodCreateInstance, func(_ context.Context, rc rpc.Context, a taskapi.CreateInstanceArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "create", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.CreateInstance(ctx, rc, a) }))
		return rpc.Void{}, nil
	})
	rpc.Register(srv, taskapi.MethodDeleteInstance, func(_ context.Context, rc rpc.Context, a taskapi.DeleteInstanceArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "delete", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.DeleteInstance(ctx, rc, a.InstanceID) }))
		return rpc.Void{}, nil
	})
	rpc.Register(srv, taskapi.MethodRestart, func(_ context.Context, rc rpc.Context, a taskapi.RestartArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "restart", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.Restart(ctx, rc, a.InstanceID) }))
		return rpc.Void{}, nil
	})
	rpc.Register(srv, taskapi.MethodResizeVolume, func(_ context.Context, rc rpc.Context, a taskapi.ResizeVolumeArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "resize_volume", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.ResizeVolume(ctx, rc, a.InstanceID, a.NewSize) }))
		return rpc.Void{}, nil
	})
	rpc.Register(srv, taskapi.MethodUpgrade, func(_ context.Context, rc rpc.Context, a taskapi.UpgradeArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "upgrade", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.Upgrade(ctx, rc, a) }))
		return rpc.Void{}, nil
	})
	m.registerSecureRPC(srv)
	m.registerConfiguration(srv)
	m.registerResize(srv)
	m.registerBackups(srv)
	m.registerReplication(srv)
}

// Go runs a flow for an instance in the background, after the flows already running or queued for it. A
// build waiting for its guest notices a delete's task change within a poll and ends, so the delete follows.
func (m *Manager) Go(instanceID, flow string, fn func(ctx context.Context) error) {
	m.mu.Lock()
	q, running := m.queues[instanceID]
	m.queues[instanceID] = append(q, job{flow, fn})
	m.mu.Unlock()
	if running {
		m.log(instanceID).WithField("flow", flow).Info("flow queued behind the instance's running flow")
		return
	}
	m.wg.Add(1)
	go m.drain(instanceID)
}

// running reports whether a flow runs (or waits) for the instance.
func (m *Manager) running(instanceID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.queues[instanceID]
	return ok
}

func (m *Manager) drain(instanceID string) {
	defer m.wg.Done()
	for {
		m.mu.Lock()
		q := m.queues[instanceID]
		if len(q) == 0 {
			delete(m.queues, instanceID)
			m.mu.Unlock()
			return
		}
		j := q[0]
		m.queues[instanceID] = q[1:]
		m.mu.Unlock()
		log := m.log(instanceID).WithField("flow", j.flow)
		start := time.Now()
		if m.Metrics != nil {
			m.Metrics.FlowStarted(j.flow)
		}
		err := j.fn(m.ctx)
		if m.Metrics != nil {
			m.Metrics.FlowEnded(j.flow, err)
		}
		if err != nil {
			log.WithError(err).Error("flow failed")
			continue
		}
		log = log.WithField("seconds", time.Since(start).Seconds())
		if rc, ok := m.Compute.(requestCounter); ok { // the cloud calls so far (make bench divides them per create)
			log = log.WithField("cloud_requests", rc.RequestCounts())
		}
		log.Info("flow finished")
	}
}

// requestCounter is a compute driver that counts its requests per service (the openstack driver; Keystone token
// requests included).
type requestCounter interface{ RequestCounts() map[string]int }

// Stop cancels running flows and waits for them until ctx ends.
func (m *Manager) Stop(ctx context.Context) error {
	m.cancel()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) log(id string) logrus.FieldLogger { return m.Log.WithField("instance_id", id) }

// userError marks a failure the user (or the request) caused: retrying cannot help, so the flow records it
// and stops. Anything else is ours (broker, compute, catalog) and is retried within the budget.
type userError struct{ err error }

func (e userError) Error() string { return e.err.Error() }
func (e userError) Unwrap() error { return e.err }

func permanent(err error) error {
	if err == nil {
		return nil
	}
	return userError{err}
}

func isPermanent(err error) bool {
	var u userError
	return errors.As(err, &u) || errors.Is(err, compute.ErrNotFound) || errors.Is(err, compute.ErrPermanent) || errors.Is(err, catalog.ErrNotFound) ||
		errors.Is(err, catalog.ErrBadRequest) || errors.Is(err, context.Canceled)
}

// retry runs fn until it succeeds, fails permanently or the budget is spent.
func (m *Manager) retry(ctx context.Context, id, what string, fn func() error) error {
	var err error
	for i := 1; i <= m.Config.RetryBudget; i++ {
		if err = fn(); err == nil || isPermanent(err) {
			return err
		}
		if i == m.Config.RetryBudget {
			break
		}
		m.log(id).WithError(err).WithField("attempt", i).Warnf("%s failed; retrying", what)
		if serr := sleep(ctx, m.Config.RetryDelay); serr != nil {
			return serr
		}
	}
	return fmt.Errorf("%s: %w (after %d attempts)", what, err, m.Config.RetryBudget)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// guest returns a client for the instance's guest with the codec its keys call for.
func (m *Manager) guest(ctx context.Context, id string) (*guestapi.Client, rpc.Codec, error) {
	p, err := peerKeys(ctx, m.Catalog, m.Config.InstRPCKeyEncrKey, id)
	if err != nil {
		return nil, nil, err
	}
	return m.guestWith(id, p)
}

// guestWith returns a client for the instance's guest sealing with the given keys (rotation talks to a guest
// under a key other than the catalog's current one), sending what its agent and [upgrade_levels] guestagent
// allow.
func (m *Manager) guestWith(id string, p peer) (*guestapi.Client, rpc.Codec, error) {
	codec, err := rpc.GuestCodec(id, p.Keys, p.Envelope)
	if err != nil {
		return nil, nil, err
	}
	c := guestapi.New(m.Transport.Client(guestapi.Target(id), codec))
	c.Low, c.High = m.Config.AgentCallLow, m.Config.AgentCallHigh
	c.Peer = guestapi.Peer{InstanceID: id, Agent: p.Agent, Cap: m.Config.GuestCap}
	return c, codec, nil
}

// recordFault stores a fault for the instance (shown by the API) and logs it.
func (m *Manager) recordFault(ctx context.Context, id, message string, cause error) {
	details := ""
	if cause != nil {
		details = cause.Error()
	}
	m.log(id).WithError(cause).Error(message)
	if err := m.Catalog.SaveFault(ctx, id, message, details); err != nil {
		m.log(id).WithError(err).Error("saving instance fault")
	}
}

// failBuild is failTask for a build (from BUILDING): the instance will never run, so its guest's broker account
// is removed too (not when the flow was cancelled by shutdown: it resumes).
func (m *Manager) failBuild(ctx context.Context, id string, to status.InstanceTask, message string, cause error) error {
	err := m.failTask(ctx, id, status.TaskBuilding, to, message, cause)
	if ctx.Err() == nil {
		_ = m.revokeGuestAccount(ctx, id)
	}
	return err
}

// revokeGuestAccount removes the instance's guest broker account (per_guest_accounts), retried within the
// budget; a failure is logged and returned.
func (m *Manager) revokeGuestAccount(ctx context.Context, id string) error {
	if m.Broker == nil {
		return nil
	}
	err := m.retry(ctx, id, "removing the guest's broker account", func() error { return m.Broker.Revoke(ctx, id) })
	if err != nil {
		m.log(id).WithError(err).Error("removing the guest's broker account failed; it stays on the broker")
		return err
	}
	m.log(id).Info("guest broker account removed")
	return nil
}

// failTask moves the task from `from` to an error task (only if it is still `from`) and records a fault. A flow
// cancelled by shutdown records nothing: it resumes at the next start.
func (m *Manager) failTask(ctx context.Context, id string, from, to status.InstanceTask, message string, cause error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", message, ctx.Err())
	}
	ctx = context.WithoutCancel(ctx)
	// The fault first: whoever sees the error task finds its explanation.
	m.recordFault(ctx, id, message, cause)
	if _, err := m.Catalog.SetTaskIf(ctx, id, from, to); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		m.log(id).WithError(err).Error("setting error task")
	}
	if cause == nil {
		return errors.New(message)
	}
	return fmt.Errorf("%s: %w", message, cause)
}
