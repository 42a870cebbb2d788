package flows

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// Automatic failover (issue 16, beyond Trove; [taskmanager] auto_failover). Every taskmanager watches the
// replication sources: a source whose database port has refused connections for auto_failover_timeout, whose
// guest has not heartbeated for as long and does not answer rpc_ping is failed over:
//  1. claim: the source's task NONE → EJECTING by one conditional UPDATE (one taskmanager acts);
//  2. fence: its server is deleted (the local driver kills what is left of its processes; Nova deletes the VM
//     and its ports), so the old primary can never take a write again — if fencing fails nothing is promoted;
//  3. promote: the most advanced replica becomes the source and the others follow it (eject);
//  4. rejoin: the old primary's row becomes a replica of the new source and is rebuilt as one (its old volume
//     is dropped, a new server restored from a snapshot of the new source follows it), so the set gets its
//     replica count back and the old data is never served again.

// failoverWatch is the in-memory state of the watcher: since when each source has looked down.
type failoverWatch struct {
	mu   sync.Mutex
	down map[string]time.Time
}

// RunFailover watches the replication sources every Config.FailoverPoll until ctx ends (auto_failover on).
func (m *Manager) RunFailover(ctx context.Context) {
	every := m.Config.FailoverPoll
	if every <= 0 {
		every = 2 * time.Second
	}
	m.Log.WithField("timeout", m.Config.FailoverTimeout.String()).Info("automatic failover: watching replication sources")
	for {
		if err := m.CheckFailover(ctx); err != nil && ctx.Err() == nil {
			m.Log.WithError(err).Warn("automatic failover: checking the replication sources failed; tried again at the next poll")
		}
		if sleep(ctx, every) != nil {
			return
		}
	}
}

// CheckFailover looks at every replication source once and starts the failover of those that are down (see
// above) as the instance's flow.
func (m *Manager) CheckFailover(ctx context.Context) error {
	ids, err := m.Catalog.ReplicationSources(ctx)
	if err != nil {
		return err
	}
	now := m.TimeNow()
	live := map[string]bool{}
	for _, id := range ids {
		live[id] = true
		if m.sourceDown(ctx, id, now) {
			m.Go(id, "failover", func(ctx context.Context) error { return m.Failover(ctx, id) })
		}
	}
	m.watch.mu.Lock()
	for id := range m.watch.down {
		if !live[id] {
			delete(m.watch.down, id)
		}
	}
	m.watch.mu.Unlock()
	return nil
}

// sourceDown reports whether source id has been down for the failover timeout: its database unreachable since
// at least then (as seen by this taskmanager), no heartbeat for as long, and no answer to rpc_ping.
func (m *Manager) sourceDown(ctx context.Context, id string, now time.Time) bool {
	timeout := m.Config.FailoverTimeout
	inst, err := m.Catalog.GetInstance(ctx, id)
	if err != nil || inst.Task() != status.TaskNone {
		m.forgetDown(id) // busy (or gone): a role change or a build is the control plane's own doing
		return false
	}
	reachable, known := m.databaseReachable(ctx, inst)
	if !known {
		return false // the compute service did not answer: no decision on partial knowledge
	}
	if reachable {
		m.forgetDown(id)
		return false
	}
	m.watch.mu.Lock()
	since, seen := m.watch.down[id]
	if !seen {
		m.watch.down[id], since = now, now
	}
	m.watch.mu.Unlock()
	if !seen {
		m.log(id).Warn("automatic failover: the replication source's database is unreachable; watching it")
	}
	if now.Sub(since) < timeout {
		return false
	}
	if st, err := m.Catalog.GetServiceStatus(ctx, id); err == nil && st.HeartbeatAge(now) < timeout {
		return false
	}
	if g, _, err := m.guest(ctx, id); err == nil {
		pctx, cancel := context.WithTimeout(ctx, min(timeout, 3*time.Second))
		_, perr := g.RPCPing(pctx, rpc.Context{RequestID: "req-taskmanager-failover"})
		cancel()
		if perr == nil {
			m.log(id).Warn("automatic failover: the source's database is unreachable but its guest answers; not failing over")
			return false
		}
	}
	return true
}

func (m *Manager) forgetDown(id string) {
	m.watch.mu.Lock()
	delete(m.watch.down, id)
	m.watch.mu.Unlock()
}

// databaseReachable dials the instance's database port on each of its IPv4 addresses. known is false when the
// compute service could not say where the server is (an error other than not found).
func (m *Manager) databaseReachable(ctx context.Context, inst catalog.Instance) (reachable, known bool) {
	if inst.ComputeInstanceID == "" {
		return false, true
	}
	srv, err := m.Compute.GetServer(ctx, inst.ComputeInstanceID)
	if errors.Is(err, compute.ErrNotFound) {
		return false, true
	}
	if err != nil {
		m.log(inst.ID).WithError(err).Warn("automatic failover: the source's server could not be read")
		return false, false
	}
	if srv.Status != compute.ServerActive {
		return false, true
	}
	ver, err := m.Catalog.GetVersion(ctx, inst.DatastoreVersionID)
	if err != nil || len(tcpPorts[ver.Manager]) == 0 {
		return false, false
	}
	port := tcpPorts[ver.Manager][0]
	d := net.Dialer{Timeout: time.Second}
	for _, a := range srv.Addresses {
		if ip, err := netip.ParseAddr(a.Addr); err != nil || !ip.Is4() {
			continue
		}
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.Addr, strconv.Itoa(port)))
		if err == nil {
			c.Close()
			return true, true
		}
	}
	return false, true
}

// Failover fails source id over (the steps above). The source's replicas that are idle take part; the others
// are left following the dead source (their tasks are not touched).
func (m *Manager) Failover(ctx context.Context, id string) error {
	rc := rpc.Context{RequestID: "req-taskmanager-failover-" + id}
	swapped, err := m.Catalog.SetTaskIf(ctx, id, status.TaskNone, status.TaskEjecting)
	if err != nil || !swapped {
		return err // another taskmanager (or a user's action) has it
	}
	m.forgetDown(id)
	began := m.TimeNow()
	log := m.log(id)
	log.Warn("automatic failover: the replication source is down; fencing it and promoting its most advanced replica")
	ids := []string{id}
	for _, r := range m.replicationSet(ctx, id)[1:] {
		if ok, err := m.Catalog.SetTaskIf(ctx, r, status.TaskNone, status.TaskEjecting); err == nil && ok {
			ids = append(ids, r)
		}
	}
	defer func() {
		for _, x := range ids {
			m.resetTask(ctx, x, status.TaskEjecting)
		}
	}()
	old, err := m.Catalog.GetInstance(ctx, id)
	if err != nil {
		return err
	}
	if len(ids) == 1 {
		m.recordFault(ctx, id, "Automatic failover: the source is down but none of its replicas is idle; nothing was changed.", nil)
		return errors.New("no idle replica")
	}
	// Fence.
	if old.ComputeInstanceID != "" {
		if err := m.retry(ctx, id, "fencing the failed source (deleting its server)", func() error {
			return ignoreNotFound(m.Compute.DeleteServer(ctx, old.ComputeInstanceID))
		}); err != nil {
			m.recordFault(context.WithoutCancel(ctx), id, "Automatic failover: the failed source could not be fenced (its server was not deleted); no replica was promoted.", err)
			return err
		}
		if err := m.Catalog.SetServer(ctx, id, "", old.VolumeID); err != nil {
			return err
		}
		log.WithField("server_id", old.ComputeInstanceID).Info("automatic failover: failed source fenced (server deleted)")
	}
	// Promote.
	winner, err := m.eject(ctx, rc, id, ids[1:])
	if err != nil {
		m.recordFault(context.WithoutCancel(ctx), id, "Automatic failover: the source was fenced but promoting a replica failed; eject it again or promote a replica.", err)
		return err
	}
	log.WithField("new_source_id", winner).WithField("seconds", m.TimeNow().Sub(began).Seconds()).Warn("automatic failover: replica promoted to source")
	for _, x := range ids[1:] {
		m.resetTask(ctx, x, status.TaskEjecting)
	}
	// Rejoin: the old source becomes a replica of the winner, rebuilt from it.
	if err := m.rebuildAsReplica(ctx, rc, old, winner); err != nil {
		return err
	}
	log.WithField("new_source_id", winner).WithField("seconds", m.TimeNow().Sub(began).Seconds()).Info("automatic failover: the failed source was rebuilt as a replica of the new source")
	return nil
}

// rebuildAsReplica turns fenced instance old into a fresh replica of sourceID: its volume is deleted, its row
// follows sourceID with task BUILDING, and the replica build runs (snapshot of the new source, restore,
// attach). A failure leaves the instance in a build error with a fault, as a failed replica create does.
func (m *Manager) rebuildAsReplica(ctx context.Context, rc rpc.Context, old catalog.Instance, sourceID string) error {
	id := old.ID
	src := sourceID
	if err := m.Catalog.UpdateInstance(ctx, id, catalog.InstanceUpdate{SlaveOfID: &src}); err != nil {
		return err
	}
	old.SlaveOfID = src
	a, err := m.replicaBuildArgs(ctx, old)
	if err != nil {
		return err
	}
	if old.VolumeID != "" {
		if err := m.retry(ctx, id, "deleting the fenced source's volume", func() error { return ignoreNotFound(m.Compute.DeleteVolume(ctx, old.VolumeID)) }); err != nil {
			return err
		}
		if err := m.Catalog.SetServer(ctx, id, "", ""); err != nil {
			return err
		}
	}
	if err := m.Catalog.SetServiceStatus(ctx, id, status.New); err != nil {
		return err
	}
	if err := m.Catalog.SetTask(ctx, id, status.TaskBuilding); err != nil {
		return err
	}
	// No fault is recorded before the build: the build takes a fault newer than the row as the guest's failure.
	if err := m.CreateInstance(ctx, rc, a); err != nil {
		return err
	}
	if inst, err := m.Catalog.GetInstance(ctx, id); err != nil || inst.Task() != status.TaskNone {
		return err // the build failed with its own fault
	}
	m.recordFault(ctx, id, fmt.Sprintf("Automatic failover: this instance was the replication source and stopped answering; %s is the source now. "+
		"Its server was deleted and it was rebuilt as a replica of %s (writes it took that never reached a replica were not kept).", sourceID, sourceID), nil)
	return nil
}

// replicaBuildArgs are the create_instance arguments of inst rebuilt as a replica of its source (SlaveOfID),
// from its row: the request's own arguments are gone (a failover's rejoin, a build resumed after a restart).
func (m *Manager) replicaBuildArgs(ctx context.Context, inst catalog.Instance) (taskapi.CreateInstanceArgs, error) {
	ver, err := m.Catalog.GetVersion(ctx, inst.DatastoreVersionID)
	if err != nil {
		return taskapi.CreateInstanceArgs{}, err
	}
	flavor, err := m.Compute.GetFlavor(ctx, inst.FlavorID)
	if err != nil {
		return taskapi.CreateInstanceArgs{}, fmt.Errorf("the instance's flavor %s: %w", inst.FlavorID, err)
	}
	src := inst.SlaveOfID
	a := taskapi.CreateInstanceArgs{InstanceID: inst.ID, Name: inst.Name, ImageID: ver.ImageID, DatastoreManager: ver.Manager, DSVersion: ver.Name,
		Flavor: taskapi.Flavor{ID: flavor.ID, Name: flavor.Name, RAM: flavor.RAM, VCPUs: flavor.VCPUs, Disk: flavor.Disk}, SlaveOfID: &src}
	if inst.VolumeID != "" || inst.VolumeSize > 0 {
		size := inst.VolumeSize
		a.VolumeSize = &size
	}
	return a, nil
}
