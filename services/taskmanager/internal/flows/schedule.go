package flows

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// scheduleLease is how long a claimed schedule stays this taskmanager's without renewal; a run renews it every
// third of that, so a taskmanager that dies mid-run frees its schedules within scheduleLease.
const scheduleLease = 2 * time.Minute

// errWaiting: the slot cannot run yet (the instance is busy or has a running backup); it is tried again at the
// next poll.
var errWaiting = errors.New("waiting")

// RunSchedules runs due backup schedules every Config.SchedulePoll until ctx ends. owner names this
// taskmanager in the catalog's leases (host and process: unique among the running taskmanagers).
func (m *Manager) RunSchedules(ctx context.Context, owner string) {
	m.pollDue(ctx, m.Config.SchedulePoll, 30*time.Second, "backup schedules", func() error { return m.RunDueSchedules(ctx, owner) })
}

// RunDueSchedules claims the schedules due now (m.TimeNow) and runs them one after another: each run makes one
// backup (an incremental on the instance's latest completed backup, or a full one when there is none), waits
// for it to end, applies the instance's retention rules and records the next slot. A slot that is long past
// (the control plane was down) runs once, and the next slot is one interval after now.
func (m *Manager) RunDueSchedules(ctx context.Context, owner string) error {
	due, err := m.Catalog.ClaimDueSchedules(ctx, owner, m.TimeNow(), scheduleLease, 100)
	if err != nil {
		return err
	}
	for _, s := range due {
		if err := m.runSchedule(ctx, owner, s); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.log(s.InstanceID).WithField("schedule_id", s.ID).WithError(err).Warn("backup schedule run failed")
		}
	}
	return nil
}

func (m *Manager) runSchedule(ctx context.Context, owner string, s catalog.BackupSchedule) error {
	log := m.log(s.InstanceID).WithField("schedule_id", s.ID)
	// keep the lease while the run lasts
	rctx, stop := m.holdLease(ctx, scheduleLease, log, func(ctx context.Context, until time.Time) error {
		return m.Catalog.RenewScheduleLease(ctx, s.ID, owner, until)
	})
	defer stop()
	slot := s.NextRunAt
	backupID, runErr := m.scheduledBackup(rctx, s, slot)
	if errors.Is(runErr, catalog.ErrNotFound) {
		// the instance is gone: so is its schedule
		log.Info("backup schedule removed: its instance is deleted")
		return m.Catalog.DeleteBackupSchedule(context.WithoutCancel(ctx), s.ID)
	}
	if runErr == nil {
		runErr = m.applyRetention(rctx, s.InstanceID)
	}
	if ctx.Err() != nil {
		return ctx.Err() // resumed by the next claim once the lease expires: the slot keeps its backup
	}
	next := slot.Add(time.Duration(s.IntervalSeconds) * time.Second)
	if now := m.TimeNow(); !next.After(now) {
		next = now.Add(time.Duration(s.IntervalSeconds) * time.Second)
	}
	if errors.Is(runErr, errWaiting) {
		next = slot // the same slot again at the next poll
	}
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	if err := m.Catalog.ScheduleRunEnd(context.WithoutCancel(ctx), s.ID, owner, slot, next, backupID, msg); err != nil {
		return err
	}
	log.WithField("backup_id", backupID).WithField("next_run_at", next.Format(time.RFC3339)).WithField("error", msg).Info("backup schedule ran")
	return runErr
}

// scheduledBackup makes (or, when a run of this slot was interrupted, follows) the slot's backup and waits
// for it to end. ErrNotFound: the instance is deleted.
func (m *Manager) scheduledBackup(ctx context.Context, s catalog.BackupSchedule, slot time.Time) (string, error) {
	in, err := m.Catalog.GetInstance(ctx, s.InstanceID)
	if err != nil {
		return "", err
	}
	id, fresh, err := m.Catalog.ScheduleRunBackup(ctx, s.ID, slot, catalog.NewID())
	if err != nil {
		return "", err
	}
	exists, err := m.Catalog.BackupRowExists(ctx, id)
	if err != nil {
		return id, err
	}
	if !fresh && exists {
		// a run interrupted between the backup's row and create_backup leaves it NEW for good (the guest
		// marks a backup BUILDING as it gets it): it fails, and the slot's run ends with that
		if b, err := m.Catalog.GetBackup(ctx, id); err == nil && b.State == status.BackupNew && m.TimeNow().Sub(b.Updated) > 2*m.Config.AgentCallHigh {
			failed := status.BackupFailed
			if err := m.Catalog.UpdateBackup(ctx, id, catalog.BackupUpdate{State: &failed}); err != nil {
				return id, err
			}
			return id, fmt.Errorf("backup %s of an interrupted run never reached the guest: marked FAILED", id)
		}
		return id, m.awaitScheduled(ctx, id, s.InstanceID)
	}
	if in.TaskID != status.TaskNone.Code {
		return "", fmt.Errorf("%w: instance %s is busy (%s)", errWaiting, in.ID, in.Task().Action)
	}
	v, err := m.Catalog.GetVersion(ctx, in.DatastoreVersionID)
	if err != nil {
		return "", err
	}
	ds, err := m.Catalog.GetDatastore(ctx, v.DatastoreID)
	if err != nil {
		return "", err
	}
	driver := m.Config.StorageStrategy
	if driver == backupstore.DriverSwift {
		// Swift stores a backup as the user (their token); a schedule has none (Trove would need a trust)
		return "", permanent(errors.New("scheduled backups need storage_strategy directory or s3: Swift stores backups with the user's token"))
	}
	b := catalog.Backup{ID: id, Name: fmt.Sprintf("%s %s", s.Name, slot.UTC().Format("2006-01-02T15:04:05Z")),
		Description: "scheduled backup (schedule " + s.ID + ")", TenantID: in.TenantID, InstanceID: in.ID,
		State: status.BackupNew, DatastoreVersionID: in.DatastoreVersionID, StorageDriver: driver, BackupType: guestapi.BackupFull}
	container := m.Config.BackupSwiftContainer
	info := guestapi.BackupInfo{ID: id, Name: b.Name, Description: &b.Description, InstanceID: in.ID, BackupType: guestapi.BackupFull,
		Datastore: ds.Name, DatastoreVersion: v.Name, StorageDriver: driver, SwiftContainer: &container}
	if s.BackupType == guestapi.BackupIncremental {
		if p, ok, err := m.latestCompleted(ctx, in.TenantID, in.ID); err != nil {
			return "", err
		} else if ok {
			b.ParentID, b.BackupType = p.ID, guestapi.BackupIncremental
			info.BackupType = guestapi.BackupIncremental
			info.Parent = &guestapi.BackupParent{ID: p.ID, Location: p.Location, Checksum: p.Checksum}
		}
	}
	if _, err := m.Catalog.CreateBackupIfIdle(ctx, b, m.Config.Quotas); errors.Is(err, catalog.ErrConflict) {
		return "", fmt.Errorf("%w: instance %s has a running backup", errWaiting, in.ID)
	} else if err != nil {
		return id, err // over quota included: recorded as the run's error
	}
	if err := m.CreateBackup(ctx, rpc.Context{ProjectID: in.TenantID}, taskapi.CreateBackupArgs{BackupInfo: info, InstanceID: in.ID}); err != nil {
		return id, err
	}
	return id, m.awaitScheduled(ctx, id, s.InstanceID)
}

// awaitScheduled waits for a scheduled backup to end; FAILED is the run's error.
func (m *Manager) awaitScheduled(ctx context.Context, id, instanceID string) error {
	if err := m.awaitBackup(ctx, id, instanceID); err != nil {
		return err
	}
	b, err := m.Catalog.GetBackup(ctx, id)
	if err != nil {
		return err
	}
	if b.State != status.BackupCompleted {
		return fmt.Errorf("backup %s ended %s", id, b.State)
	}
	return nil
}

func (m *Manager) latestCompleted(ctx context.Context, tenant, instance string) (catalog.Backup, bool, error) {
	rows, _, err := m.Catalog.ListBackups(ctx, catalog.BackupFilter{TenantID: tenant, InstanceID: instance})
	if err != nil {
		return catalog.Backup{}, false, err
	}
	var latest *catalog.Backup
	for i := range rows {
		if rows[i].State == status.BackupCompleted && (latest == nil || rows[i].Created.After(latest.Created)) {
			latest = &rows[i]
		}
	}
	if latest == nil {
		return catalog.Backup{}, false, nil
	}
	return *latest, true, nil
}

// applyRetention deletes the backups the instance's schedules made that their rules no longer keep, youngest
// first, except any backup still needed: an ancestor of a backup that stays (kept by a rule, made by another
// schedule or by hand, or still running) is never deleted, so every remaining chain restores.
func (m *Manager) applyRetention(ctx context.Context, instanceID string) error {
	schedules, err := m.Catalog.ListBackupSchedules(ctx, instanceID)
	if err != nil {
		return err
	}
	in, err := m.Catalog.GetInstance(ctx, instanceID)
	if err != nil {
		return err
	}
	rows, _, err := m.Catalog.ListBackups(ctx, catalog.BackupFilter{TenantID: in.TenantID, InstanceID: instanceID})
	if err != nil {
		return err
	}
	byID := map[string]catalog.Backup{}
	for _, b := range rows {
		byID[b.ID] = b
	}
	now := m.TimeNow()
	candidates := map[string]bool{}
	for _, s := range schedules {
		if s.KeepCount <= 0 && s.KeepDays <= 0 {
			continue
		}
		ids, err := m.Catalog.ScheduleBackupIDs(ctx, s.ID)
		if err != nil {
			return err
		}
		var mine []catalog.Backup
		for _, id := range ids {
			if b, ok := byID[id]; ok && !b.Running() {
				mine = append(mine, b)
			}
		}
		sort.Slice(mine, func(i, j int) bool { return mine[i].Created.After(mine[j].Created) })
		completed := 0
		for _, b := range mine {
			keep := false
			if b.State == status.BackupCompleted {
				completed++
				keep = s.KeepCount > 0 && completed <= s.KeepCount ||
					s.KeepDays > 0 && now.Sub(b.Created) < time.Duration(s.KeepDays)*24*time.Hour
			}
			if !keep {
				candidates[b.ID] = true
			}
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	needed := map[string]bool{}
	for _, b := range rows {
		if candidates[b.ID] {
			continue
		}
		for p := b.ParentID; p != "" && !needed[p]; p = byID[p].ParentID {
			needed[p] = true
		}
	}
	var doomed []catalog.Backup
	for id := range candidates {
		if !needed[id] {
			doomed = append(doomed, byID[id])
		}
	}
	sort.Slice(doomed, func(i, j int) bool { return doomed[i].Created.After(doomed[j].Created) })
	for _, b := range doomed {
		if err := m.DeleteBackup(ctx, rpc.Context{ProjectID: b.TenantID}, b.ID); err != nil {
			return fmt.Errorf("retention: deleting backup %s: %w", b.ID, err)
		}
		m.log(instanceID).WithField("backup_id", b.ID).WithField("created", b.Created.Format(time.RFC3339)).Info("retention deleted a scheduled backup")
	}
	return nil
}
