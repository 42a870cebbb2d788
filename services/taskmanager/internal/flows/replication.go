package flows

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// Replication (issue 16).
//   - create_instance with slave_of_id: the source becomes a source (guest get_replica_context), a full backup of
//     it is made into the configured store (the "replication snapshot", as Trove), the replica is built restored
//     from it (prepare's backup_info, with Trove's snapshot naming it: a PostgreSQL guest restores it as a
//     standby), then follows the source from the snapshot's position (attach_replica) and
//     the snapshot is deleted. A failure is task 84 "Build error: Replica." with a fault.
//   - detach_replica: the replica's guest stops replicating and is writable; slave_of_id NULL; task NONE.
//   - promote_to_replica_source: a switchover (switchover below); tasks NONE at the end in every case, a fault
//     on failure.
//   - eject_replica_source: the most advanced replica becomes the source (EjectReplicaSource).

// replicaSeed is what a replica build needs from its source.
type replicaSeed struct {
	sourceID string
	context  guestapi.ReplicaContext
	snapshot catalog.Backup
}

// replicaSnapshot makes the source a source and backs it up for replica id; the backup row is counted in the
// project's backups but never refused by the quota (it lives only while the replica is built).
func (m *Manager) replicaSnapshot(ctx context.Context, rc rpc.Context, replicaID, sourceID string) (*replicaSeed, error) {
	src, err := m.Catalog.GetInstance(ctx, sourceID)
	if err != nil {
		return nil, fmt.Errorf("the replica source %s: %w", sourceID, err)
	}
	ver, err := m.Catalog.GetVersion(ctx, src.DatastoreVersionID)
	if err != nil {
		return nil, err
	}
	sg, _, err := m.guest(ctx, sourceID)
	if err != nil {
		return nil, err
	}
	rctx, err := sg.GetReplicaContext(ctx, rc)
	if err != nil {
		return nil, fmt.Errorf("get_replica_context on the source: %w", err)
	}
	b, err := m.Catalog.CreateBackup(ctx, catalog.Backup{Name: snapshotName(replicaID),
		Description: "Seed of replica " + replicaID + "; deleted once the replica follows its source.",
		TenantID:    src.TenantID, InstanceID: src.ID, DatastoreVersionID: src.DatastoreVersionID, BackupType: guestapi.BackupFull},
		catalog.Defaults{Instances: -1, RAM: -1, Volumes: -1, Backups: -1})
	if err != nil {
		return nil, err
	}
	seed := &replicaSeed{sourceID: sourceID, context: rctx, snapshot: b}
	desc := b.Description
	info := guestapi.BackupInfo{ID: b.ID, Name: b.Name, Description: &desc, InstanceID: src.ID, BackupType: guestapi.BackupFull,
		Datastore: ver.Manager, DatastoreVersion: ver.Name}
	info.SwiftURL, _ = m.swiftURL(rc) // the configured store; Swift's URL when the caller has one
	if err := m.CreateBackup(ctx, rc, taskapi.CreateBackupArgs{BackupInfo: info, InstanceID: src.ID}); err != nil {
		return seed, err
	}
	deadline := m.TimeNow().Add(m.Config.UsageTimeout)
	for {
		if seed.snapshot, err = m.Catalog.GetBackup(ctx, b.ID); err != nil {
			return seed, err
		}
		if !seed.snapshot.Running() {
			break
		}
		if !m.TimeNow().Before(deadline) {
			return seed, fmt.Errorf("the replication snapshot %s did not complete within usage_timeout (%s)", b.ID, m.Config.UsageTimeout)
		}
		if err := sleep(ctx, min(m.Config.BackupPollInterval, time.Second)); err != nil {
			return seed, err
		}
	}
	if seed.snapshot.State != status.BackupCompleted {
		return seed, fmt.Errorf("the replication snapshot %s ended %s", b.ID, seed.snapshot.State)
	}
	m.log(replicaID).WithField("source_id", sourceID).WithField("snapshot_id", b.ID).Info("replication snapshot completed")
	return seed, nil
}

// replicationPeers are the /32 networks of the instance's source and replicas, for its access rules: where
// instances reach each other from their own addresses, a restricted source still admits its replicas. (Not on
// the local driver yet: there a replica's connection leaves from 127.0.0.1 — MariaDB has no MASTER_BIND — so a
// source with allowed_cidrs refuses its replicas.)
func (m *Manager) replicationPeers(ctx context.Context, inst catalog.Instance) []string {
	ids := []string{}
	if inst.SlaveOfID != "" {
		ids = append(ids, inst.SlaveOfID)
	}
	set, err := m.Catalog.Replicas(ctx, "", []string{inst.ID})
	if err != nil {
		m.log(inst.ID).WithError(err).Warn("reading the instance's replicas for its access rules")
	}
	ids = append(ids, set[inst.ID]...)
	var out []string
	for _, id := range ids {
		peer, err := m.Catalog.GetInstance(ctx, id)
		if err != nil || peer.ComputeInstanceID == "" {
			continue
		}
		srv, err := m.Compute.GetServer(ctx, peer.ComputeInstanceID)
		if err != nil {
			m.log(inst.ID).WithError(err).WithField("peer_id", id).Warn("replication peer's address unavailable for the access rules")
			continue
		}
		for _, a := range srv.Addresses {
			if ip, err := netip.ParseAddr(a.Addr); err == nil && ip.Is4() {
				out = append(out, netip.PrefixFrom(ip, 32).String())
			}
		}
	}
	return out
}

// reapplySourceAccess rewrites the access rules of a replica's source (a replica joined or left it).
func (m *Manager) reapplySourceAccess(ctx context.Context, replicaID, sourceID string) error {
	src, err := m.Catalog.GetInstance(ctx, sourceID)
	if err != nil {
		return err
	}
	return m.retry(ctx, replicaID, "applying the source's access", func() error { return m.applyAccess(ctx, src) })
}

// dropSnapshot deletes the replication snapshot (object and row); a failure only leaves it DELETE_FAILED.
func (m *Manager) dropSnapshot(ctx context.Context, rc rpc.Context, replicaID string, seed *replicaSeed) {
	if seed == nil || seed.snapshot.ID == "" {
		return
	}
	if err := m.DeleteBackup(context.WithoutCancel(ctx), rc, seed.snapshot.ID); err != nil {
		m.log(replicaID).WithError(err).WithField("snapshot_id", seed.snapshot.ID).Warn("replication snapshot not deleted")
	}
}

// attachReplica makes the built replica follow its source from the snapshot's position.
func (m *Manager) attachReplica(ctx context.Context, rc rpc.Context, id string, seed *replicaSeed) error {
	g, _, err := m.guest(ctx, id)
	if err != nil {
		return err
	}
	if err := m.reapplySourceAccess(ctx, id, seed.sourceID); err != nil {
		return err
	}
	info := seed.context
	info.Txn = "" // from the position the restored snapshot was taken at
	if err := m.retry(ctx, id, "attaching the replica", func() error {
		return g.AttachReplica(ctx, rc, guestapi.AttachReplicaArgs{ReplicaInfo: info})
	}); err != nil {
		return err
	}
	m.log(id).WithField("source", fmt.Sprintf("%s:%d", info.Master.Host, info.Master.Port)).Info("replica attached to its source")
	return nil
}

// resumeReplicaAttach ends a replica build the taskmanager was stopped in, once the replica runs: it follows
// its source from the position of the snapshot it was restored from (attaching again to the same source is a
// no-op in the guest), and the build's snapshot is deleted. A failure is the build's error task with a fault.
func (m *Manager) resumeReplicaAttach(ctx context.Context, rc rpc.Context, id string) error {
	inst, err := m.Catalog.GetInstance(ctx, id)
	if err != nil || inst.Task() != status.TaskNone || inst.SlaveOfID == "" {
		return err // deleted, failed meanwhile, or detached
	}
	fail := func(err error) error {
		return m.failTask(ctx, id, status.TaskNone, status.TaskBuildingErrorReplica, "Error attaching the replica to its source.", err)
	}
	sg, _, err := m.guest(ctx, inst.SlaveOfID)
	if err != nil {
		return fail(err)
	}
	rctx, err := sg.GetReplicaContext(ctx, rc)
	if err != nil {
		return fail(fmt.Errorf("get_replica_context on the source: %w", err))
	}
	if err := m.attachReplica(ctx, rc, id, &replicaSeed{sourceID: inst.SlaveOfID, context: rctx}); err != nil {
		return fail(err)
	}
	m.dropLeftoverSnapshots(ctx, rc, inst)
	m.log(id).Info("interrupted replica build resumed: the replica follows its source")
	return nil
}

// dropLeftoverSnapshots deletes the replication snapshots an interrupted build of replica inst left.
func (m *Manager) dropLeftoverSnapshots(ctx context.Context, rc rpc.Context, inst catalog.Instance) {
	snaps, _, err := m.Catalog.ListBackups(ctx, catalog.BackupFilter{InstanceID: inst.SlaveOfID})
	if err != nil {
		m.log(inst.ID).WithError(err).Warn("looking for the interrupted build's replication snapshot")
	}
	for _, b := range snaps {
		if b.Name == snapshotName(inst.ID) {
			m.dropSnapshot(ctx, rc, inst.ID, &replicaSeed{snapshot: b})
		}
	}
}

// snapshotName names the replication snapshot of replica id's build.
func snapshotName(id string) string { return "Replication snapshot for " + id }

// DetachReplica is detach_replica: replica id stops following its source and becomes standalone.
func (m *Manager) DetachReplica(ctx context.Context, rc rpc.Context, id string) error {
	inst, err := m.Catalog.GetInstance(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer m.resetTask(ctx, id, status.TaskDetaching)
	g, _, err := m.guest(ctx, id)
	if err == nil {
		err = m.retry(ctx, id, "detaching the replica", func() error { return g.DetachReplica(ctx, rc, guestapi.DetachReplicaArgs{}) })
	}
	if err != nil {
		m.recordFault(context.WithoutCancel(ctx), id, "Detaching the replica from its source failed; it still follows it.", err)
		return err
	}
	empty := ""
	if err := m.Catalog.UpdateInstance(ctx, id, catalog.InstanceUpdate{SlaveOfID: &empty}); err != nil {
		return err
	}
	if err := m.reapplySourceAccess(ctx, id, inst.SlaveOfID); err != nil {
		m.log(id).WithError(err).Warn("the former source's access rules still admit the detached replica")
	}
	m.log(id).WithField("source_id", inst.SlaveOfID).Info("replica detached: standalone")
	return nil
}

// replicationSet is the source and its live replicas.
func (m *Manager) replicationSet(ctx context.Context, sourceID string) []string {
	set, err := m.Catalog.Replicas(ctx, "", []string{sourceID})
	if err != nil {
		m.log(sourceID).WithError(err).Error("reading the replicas of a source")
	}
	return append([]string{sourceID}, set[sourceID]...)
}

// endUnavailable records message on id and sets the tasks of ids back from `from` to NONE.
func (m *Manager) endUnavailable(ctx context.Context, id string, ids []string, from status.InstanceTask, message string) error {
	ctx = context.WithoutCancel(ctx)
	m.recordFault(ctx, id, message, nil)
	for _, x := range ids {
		m.resetTask(ctx, x, from)
	}
	return errors.New(message)
}

// PromoteToReplicaSource is promote_to_replica_source for replica id. The change is recorded
// (replication_changes) before the first step, so a restarted taskmanager finishes it (resumeReplicationChange).
func (m *Manager) PromoteToReplicaSource(ctx context.Context, rc rpc.Context, id string) error {
	inst, err := m.Catalog.GetInstance(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if inst.SlaveOfID == "" {
		return m.endUnavailable(ctx, id, []string{id}, status.TaskPromoting, "The instance is no replica any more; nothing was changed.")
	}
	if err := m.Catalog.BeginReplicationChange(ctx, catalog.ReplicationChange{SourceID: inst.SlaveOfID, TargetID: id, Kind: catalog.ChangePromote}); err != nil {
		return m.endUnavailable(ctx, id, m.replicationSet(ctx, inst.SlaveOfID), status.TaskPromoting, "Promoting the replica could not start: "+err.Error())
	}
	return m.promote(ctx, rc, inst.SlaveOfID, id)
}

// promote switches oldID's set over to newID and ends the recorded change whatever happens (a crash aside).
func (m *Manager) promote(ctx context.Context, rc rpc.Context, oldID, newID string) error {
	ids := m.changeSet(ctx, oldID, newID)
	defer func() {
		ctx := context.WithoutCancel(ctx)
		for _, x := range ids {
			m.resetTask(ctx, x, status.TaskPromoting)
		}
		if err := m.Catalog.EndReplicationChange(ctx, oldID); err != nil {
			m.log(newID).WithError(err).Error("forgetting the finished promotion")
		}
	}()
	began := m.TimeNow()
	if err := m.switchover(ctx, rc, oldID, newID, ids[1:]); err != nil {
		m.recordFault(context.WithoutCancel(ctx), newID, "Promoting the replica failed; see the replication set's roles before retrying.", err)
		return err
	}
	m.log(newID).WithField("old_source_id", oldID).WithField("seconds", m.TimeNow().Sub(began).Seconds()).Info("replica promoted to source")
	return nil
}

// changeSet is every live member of a set changing from source oldID to newID: the two and the replicas of
// each (an interrupted change leaves some following one, some the other), oldID first.
func (m *Manager) changeSet(ctx context.Context, oldID, newID string) []string {
	ids := []string{oldID}
	seen := map[string]bool{oldID: true}
	add := func(x string) {
		if x != "" && !seen[x] {
			seen[x] = true
			ids = append(ids, x)
		}
	}
	sources := []string{oldID}
	if newID != "" {
		sources = append(sources, newID)
	}
	set, err := m.Catalog.Replicas(ctx, "", sources)
	if err != nil {
		m.log(oldID).WithError(err).Error("reading the replicas of a changing set")
	}
	for _, s := range sources {
		add(s)
		for _, x := range set[s] {
			add(x)
		}
	}
	return ids
}

// switchover makes replica newID the source of oldID and of the other replicas (Trove's promote for a live
// source): the old source turns read-only, the new one catches up with its last transaction and detaches,
// becomes a source, and the old source and every other replica follow it from that position.
func (m *Manager) switchover(ctx context.Context, rc rpc.Context, oldID, newID string, replicas []string) error {
	guests := map[string]*guestapi.Client{}
	for _, x := range append([]string{oldID}, replicas...) {
		g, _, err := m.guest(ctx, x)
		if err != nil {
			return err
		}
		guests[x] = g
	}
	old, neu := guests[oldID], guests[newID]
	if row, err := m.Catalog.GetInstance(ctx, newID); err != nil {
		return err
	} else if row.SlaveOfID == "" {
		// resumed after the new source was detached and recorded: only the followers are left
		return m.repoint(ctx, rc, newID, guests)
	}
	if err := old.MakeReadOnly(ctx, rc, true); err != nil {
		return fmt.Errorf("make_read_only on the old source: %w", err)
	}
	pos, err := old.GetLatestTxnID(ctx, rc)
	if err != nil {
		return fmt.Errorf("get_latest_txn_id on the old source: %w", err)
	}
	if err := neu.WaitForTxn(ctx, rc, pos); err != nil {
		return fmt.Errorf("the new source did not reach %s: %w", pos, err)
	}
	if err := neu.DetachReplica(ctx, rc, guestapi.DetachReplicaArgs{}); err != nil {
		return fmt.Errorf("detach_replica on the new source: %w", err)
	}
	empty := ""
	if err := m.Catalog.UpdateInstance(ctx, newID, catalog.InstanceUpdate{SlaveOfID: &empty}); err != nil {
		return err
	}
	info, err := neu.GetReplicaContext(ctx, rc)
	if err != nil {
		return fmt.Errorf("get_replica_context on the new source: %w", err)
	}
	info.Txn = pos // every follower has applied exactly the old source's last transaction
	for _, x := range append([]string{oldID}, replicas...) {
		if x == newID {
			continue
		}
		if x != oldID {
			if err := guests[x].WaitForTxn(ctx, rc, pos); err != nil {
				return fmt.Errorf("replica %s did not reach %s: %w", x, pos, err)
			}
		}
		if err := m.follow(ctx, rc, guests[x], x, newID, info); err != nil {
			return err
		}
	}
	m.nameReplicas(ctx, newID)
	return nil
}

// follow attaches x (its guest g) to the source newID with info and records it in the catalog.
func (m *Manager) follow(ctx context.Context, rc rpc.Context, g *guestapi.Client, x, newID string, info guestapi.ReplicaContext) error {
	if err := g.AttachReplica(ctx, rc, guestapi.AttachReplicaArgs{ReplicaInfo: info}); err != nil {
		return fmt.Errorf("attach_replica on %s: %w", x, err)
	}
	return m.Catalog.UpdateInstance(ctx, x, catalog.InstanceUpdate{SlaveOfID: &newID})
}

// nameReplicas lets a new source's replicas through its access rules (a failure is logged: the rules are
// applied again with the next access change).
func (m *Manager) nameReplicas(ctx context.Context, sourceID string) {
	if err := m.reapplySourceAccess(ctx, sourceID, sourceID); err != nil {
		m.log(sourceID).WithError(err).Warn("the new source's access rules do not name its replicas yet")
	}
}

// repoint attaches every member of guests other than newID that the catalog does not show following newID
// yet to newID, each from its own position (newID's log holds what it is missing), then names them in newID's
// access: the end of a switchover or an eject resumed after newID became the source.
func (m *Manager) repoint(ctx context.Context, rc rpc.Context, newID string, guests map[string]*guestapi.Client) error {
	info, err := guests[newID].GetReplicaContext(ctx, rc)
	if err != nil {
		return fmt.Errorf("get_replica_context on the new source %s: %w", newID, err)
	}
	for _, x := range slices.Sorted(maps.Keys(guests)) {
		if x == newID {
			continue
		}
		row, err := m.Catalog.GetInstance(ctx, x)
		if err != nil {
			return err
		}
		if row.SlaveOfID == newID {
			continue
		}
		pos, err := guests[x].GetLatestTxnID(ctx, rc)
		if err != nil {
			return fmt.Errorf("get_latest_txn_id on %s: %w", x, err)
		}
		ri := info
		ri.Txn = pos
		if err := m.follow(ctx, rc, guests[x], x, newID, ri); err != nil {
			return err
		}
	}
	m.nameReplicas(ctx, newID)
	return nil
}

// EjectReplicaSource is eject_replica_source for source id, whose guest is gone (the API checked its heartbeat):
// the most advanced replica (txnRank: the highest GTID sequence number or WAL location) detaches and becomes
// the source, the other replicas follow it from their own positions; the old source is left out of the set
// with a fault. Tasks NONE at the end in every case.
func (m *Manager) EjectReplicaSource(ctx context.Context, rc rpc.Context, id string) error {
	if err := m.Catalog.BeginReplicationChange(ctx, catalog.ReplicationChange{SourceID: id, Kind: catalog.ChangeEject}); err != nil {
		return m.endUnavailable(ctx, id, m.replicationSet(ctx, id), status.TaskEjecting, "Ejecting the replica source could not start: "+err.Error())
	}
	return m.ejectSource(ctx, rc, id, "")
}

// ejectSource ejects source id; winner is the new source an interrupted eject already chose ("" for none). The
// recorded change ends whatever happens (a crash aside).
func (m *Manager) ejectSource(ctx context.Context, rc rpc.Context, id, winner string) error {
	ids := m.changeSet(ctx, id, winner)
	defer func() {
		ctx := context.WithoutCancel(ctx)
		for _, x := range ids {
			m.resetTask(ctx, x, status.TaskEjecting)
		}
		if err := m.Catalog.EndReplicationChange(ctx, id); err != nil {
			m.log(id).WithError(err).Error("forgetting the finished eject")
		}
	}()
	began := m.TimeNow()
	var err error
	if row, gerr := m.Catalog.GetInstance(ctx, winner); winner != "" && gerr == nil && row.SlaveOfID == "" {
		// resumed after the new source was detached and recorded: only the other replicas are left
		guests := map[string]*guestapi.Client{}
		for _, x := range ids[1:] {
			if guests[x], _, err = m.guest(ctx, x); err != nil {
				break
			}
		}
		if err == nil {
			err = m.repoint(ctx, rc, winner, guests)
		}
	} else {
		winner, err = m.eject(ctx, rc, id, ids[1:])
	}
	if err != nil {
		m.recordFault(context.WithoutCancel(ctx), id, "Ejecting the replica source failed; see the replication set's roles before retrying.", err)
		return err
	}
	m.recordFault(ctx, id, fmt.Sprintf("Ejected as replica source: its replicas now follow %s. This instance is standalone; its data may differ from theirs.", winner), nil)
	m.log(id).WithField("new_source_id", winner).WithField("seconds", m.TimeNow().Sub(began).Seconds()).Info("replica source ejected")
	return nil
}

func (m *Manager) eject(ctx context.Context, rc rpc.Context, oldID string, replicas []string) (string, error) {
	if len(replicas) == 0 {
		return "", errors.New("the source has no replicas")
	}
	guests := map[string]*guestapi.Client{}
	positions := map[string]string{}
	winner, best := "", int64(-1)
	for _, x := range replicas {
		g, _, err := m.guest(ctx, x)
		if err != nil {
			return "", err
		}
		pos, err := g.GetLatestTxnID(ctx, rc)
		if err != nil {
			m.log(x).WithError(err).Warn("replica without a position: left out of the eject")
			continue
		}
		guests[x], positions[x] = g, pos
		if n := txnRank(pos); n > best {
			winner, best = x, n
		}
	}
	if winner == "" {
		return "", errors.New("no replica answered with its position")
	}
	if err := m.Catalog.SetReplicationChangeTarget(ctx, oldID, winner); err != nil {
		return "", err
	}
	neu := guests[winner]
	if err := neu.DetachReplica(ctx, rc, guestapi.DetachReplicaArgs{ForFailover: true}); err != nil {
		return "", fmt.Errorf("detach_replica on the new source %s: %w", winner, err)
	}
	empty := ""
	if err := m.Catalog.UpdateInstance(ctx, winner, catalog.InstanceUpdate{SlaveOfID: &empty}); err != nil {
		return "", err
	}
	info, err := neu.GetReplicaContext(ctx, rc)
	if err != nil {
		return "", fmt.Errorf("get_replica_context on the new source %s: %w", winner, err)
	}
	for _, x := range replicas {
		if x == winner || guests[x] == nil {
			continue
		}
		ri := info
		ri.Txn = positions[x] // each from where it is: the new source's log holds what it is missing
		if err := m.follow(ctx, rc, guests[x], x, winner, ri); err != nil {
			return "", err
		}
	}
	m.nameReplicas(ctx, winner)
	return winner, nil
}

// txnRank orders the replication positions of one datastore (get_latest_txn_id): a PostgreSQL WAL location
// ("16/B374D848") by its byte position, a MariaDB GTID list by its highest sequence number (gtidSeq); -1 when
// pos is neither. The larger rank is the more advanced server.
func txnRank(pos string) int64 {
	if hi, lo, ok := strings.Cut(pos, "/"); ok {
		h, herr := strconv.ParseUint(hi, 16, 32)
		l, lerr := strconv.ParseUint(lo, 16, 32)
		if herr != nil || lerr != nil || h > math.MaxInt32 {
			return -1
		}
		return int64(h<<32 | l)
	}
	return gtidSeq(pos)
}

// gtidSeq is the largest sequence number of a MariaDB GTID list ("0-1-42,1-2-7" → 42); -1 when none.
func gtidSeq(list string) int64 {
	best := int64(-1)
	for _, g := range strings.Split(list, ",") {
		parts := strings.Split(strings.TrimSpace(g), "-")
		if len(parts) != 3 {
			continue
		}
		if n, err := strconv.ParseInt(parts[2], 10, 64); err == nil && n > best {
			best = n
		}
	}
	return best
}

func (m *Manager) registerReplication(srv *rpc.Server) {
	rpc.Register(srv, taskapi.MethodPromoteToReplicaSource, func(_ context.Context, rc rpc.Context, a taskapi.ReplicationArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "promote", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.PromoteToReplicaSource(ctx, rc, a.InstanceID) }))
		return rpc.Void{}, nil
	})
	rpc.Register(srv, taskapi.MethodEjectReplicaSource, func(_ context.Context, rc rpc.Context, a taskapi.ReplicationArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "eject", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.EjectReplicaSource(ctx, rc, a.InstanceID) }))
		return rpc.Void{}, nil
	})
	rpc.Register(srv, taskapi.MethodDetachReplica, func(_ context.Context, rc rpc.Context, a taskapi.ReplicationArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "detach", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.DetachReplica(ctx, rc, a.InstanceID) }))
		return rpc.Void{}, nil
	})
}

// resumeReplicationChanges finishes every recorded replication change (a taskmanager stopped in the middle of a
// promote or an eject): a promotion is switched over again from where it stopped — before the new source was
// recorded every step is repeatable; after, only the members not yet following it are attached —, an eject
// likewise once its new source was chosen, else chosen again. It returns the members of the changing sets,
// whose tasks the changes end.
func (m *Manager) resumeReplicationChanges(ctx context.Context, rc rpc.Context) (map[string]bool, error) {
	changes, err := m.Catalog.ReplicationChanges(ctx)
	if err != nil {
		return nil, err
	}
	members := map[string]bool{}
	for _, c := range changes {
		c := c
		for _, x := range m.changeSet(ctx, c.SourceID, c.TargetID) {
			members[x] = true
		}
		m.log(c.SourceID).WithField("kind", c.Kind).WithField("target_id", c.TargetID).Info("resuming an interrupted replication change")
		switch c.Kind {
		case catalog.ChangePromote:
			m.Go(c.TargetID, "resume promote", func(ctx context.Context) error { return m.promote(ctx, rc, c.SourceID, c.TargetID) })
		default:
			m.Go(c.SourceID, "resume eject", func(ctx context.Context) error { return m.ejectSource(ctx, rc, c.SourceID, c.TargetID) })
		}
	}
	return members, nil
}
