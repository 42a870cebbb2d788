package flows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keystone"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// Storage opens the backup store of a driver ("" = configured) for a project (a directory store is the
// project's own directory) with the caller's credentials; nil: backup objects cannot be deleted by this
// taskmanager (delete_backup fails DELETE_FAILED saying so).
type Storage func(driver, project string, creds backupstore.Credentials) (backupstore.Store, error)

// StorageFrom is the taskmanager's Storage for a configuration ([DEFAULT] storage_strategy and the driver's
// options): a backup's own driver wins, a directory store is opened at the project's directory.
func StorageFrom(cfg backupstore.Config) Storage {
	return func(driver, project string, creds backupstore.Credentials) (backupstore.Store, error) {
		c := cfg
		if driver != "" {
			c.Driver = driver
		}
		if err := backupstore.CheckProject(project); err != nil {
			return nil, err
		}
		c.Directory.Root = backupstore.ProjectDir(c.Directory.Root, project)
		return backupstore.New(c, creds)
	}
}

func (m *Manager) registerBackups(srv *rpc.Server) {
	rpc.Register(srv, taskapi.MethodCreateBackup, func(_ context.Context, rc rpc.Context, a taskapi.CreateBackupArgs) (rpc.Void, error) {
		// DBaaSBackupCreate ends once the guest has the backup (Trove's taskmanager create_backup).
		m.Go(a.InstanceID, "create_backup", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.CreateBackup(ctx, rc, a) }))
		return rpc.Void{}, nil
	})
	rpc.Register(srv, taskapi.MethodDeleteBackup, func(_ context.Context, rc rpc.Context, a taskapi.DeleteBackupArgs) (rpc.Void, error) {
		m.Go(a.BackupID, "delete_backup", m.ending(&rc, "", func(ctx context.Context) error { return m.DeleteBackup(ctx, rc, a.BackupID) }))
		return rpc.Void{}, nil
	})
}

// swiftURL is the caller's object-store endpoint (Trove adds it to backup_info as swift_url).
func (m *Manager) swiftURL(rc rpc.Context) (string, error) {
	iface := strings.TrimSuffix(m.Config.SwiftEndpointType, "URL") // Trove's publicURL/internalURL/adminURL
	return keystone.ServiceURL(rc.ServiceCatalog, "object-store", iface, m.Config.Region)
}

// CreateBackup hands backup_info to the instance's guest (Trove's create_backup), then watches the backup end:
// the guest reports its progress to the conductor; a backup whose guest stops heartbeating, or whose instance
// goes away, is marked FAILED here so it never stays BUILDING.
func (m *Manager) CreateBackup(ctx context.Context, rc rpc.Context, a taskapi.CreateBackupArgs) error {
	info := a.BackupInfo
	log := m.log(a.InstanceID).WithField("backup_id", info.ID)
	fail := func(reason string, cause error) error {
		failed := status.BackupFailed
		if err := m.Catalog.UpdateBackup(context.WithoutCancel(ctx), info.ID, catalog.BackupUpdate{State: &failed}); err != nil {
			log.WithError(err).Error("marking the backup FAILED")
		}
		log.WithError(cause).Error(reason)
		return fmt.Errorf("%s: %w", reason, cause)
	}
	if info.StorageDriver == backupstore.DriverSwift && info.SwiftURL == "" {
		u, err := m.swiftURL(rc)
		if err != nil {
			return fail("backup failed: no object store for the project", err)
		}
		info.SwiftURL = u
	}
	g, _, err := m.guest(ctx, a.InstanceID)
	if err != nil {
		return fail("backup failed: no client for the instance's guest", err)
	}
	if err := g.CreateBackup(ctx, rc, guestapi.CreateBackupArgs{BackupInfo: info}); err != nil {
		return fail("backup failed: create_backup could not be sent to the guest", err)
	}
	log.Info("backup handed to the guest")
	m.watchBackup(info.ID, a.InstanceID)
	return nil
}

// watchBackup follows a running backup in the background until it ends (outside the instance's flow queue:
// a delete of the instance must not wait for it).
func (m *Manager) watchBackup(backupID, instanceID string) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.awaitBackup(m.ctx, backupID, instanceID); err != nil && m.ctx.Err() == nil {
			m.log(instanceID).WithField("backup_id", backupID).WithError(err).Warn("watching the backup failed; it is watched again at the next start")
		}
	}()
}

func (m *Manager) awaitBackup(ctx context.Context, backupID, instanceID string) error {
	log := m.log(instanceID).WithField("backup_id", backupID)
	for {
		b, err := m.Catalog.GetBackup(ctx, backupID)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !b.Running() {
			log.WithField("state", b.State).Info("backup ended")
			return nil
		}
		reason := ""
		if _, err := m.Catalog.GetInstance(ctx, instanceID); errors.Is(err, catalog.ErrNotFound) {
			reason = "the instance was deleted during the backup"
		} else if st, err := m.Catalog.GetServiceStatus(ctx, instanceID); err == nil && st.UpdatedAt != nil &&
			m.TimeNow().Sub(*st.UpdatedAt) > m.Config.HeartbeatExpiry && m.TimeNow().Sub(b.Updated) > m.Config.HeartbeatExpiry {
			reason = fmt.Sprintf("the guest stopped heartbeating during the backup (last heartbeat %s ago)", m.TimeNow().Sub(*st.UpdatedAt).Round(time.Second))
		}
		if reason != "" {
			failed := status.BackupFailed
			if err := m.Catalog.UpdateBackup(ctx, backupID, catalog.BackupUpdate{State: &failed}); err != nil {
				return err
			}
			log.WithField("reason", reason).Warn("backup marked FAILED")
			return nil
		}
		if err := sleep(ctx, m.Config.BackupPollInterval); err != nil {
			return err
		}
	}
}

// resumeBackups watches again the backups still running at start.
func (m *Manager) resumeBackups(ctx context.Context) error {
	rows, _, err := m.Catalog.ListBackups(ctx, catalog.BackupFilter{})
	if err != nil {
		return err
	}
	for _, b := range rows {
		if b.Running() {
			m.log(b.InstanceID).WithField("backup_id", b.ID).Info("watching a running backup again")
			m.watchBackup(b.ID, b.InstanceID)
		}
	}
	return nil
}

// DeleteBackup removes the stored object (unless the backup was only registered, RESTORED, as Trove), then the
// row, releasing its quota. When the store refuses, the backup is DELETE_FAILED and kept, so nothing is lost
// and the owner can delete it again.
func (m *Manager) DeleteBackup(ctx context.Context, rc rpc.Context, id string) error {
	b, err := m.Catalog.GetBackup(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	log := m.log(b.InstanceID).WithField("backup_id", id)
	if b.Location != "" && b.State != status.BackupRestored {
		if err := m.deleteObject(ctx, rc, b); err != nil {
			st := status.BackupDeleteFailed
			if uerr := m.Catalog.UpdateBackup(ctx, id, catalog.BackupUpdate{State: &st}); uerr != nil {
				log.WithError(uerr).Error("marking the backup DELETE_FAILED")
			}
			log.WithError(err).Error("backup object not deleted: the backup is DELETE_FAILED; delete it again once the store answers")
			return err
		}
	}
	if err := m.Catalog.DeleteBackup(ctx, id); err != nil {
		return err
	}
	log.Info("backup deleted")
	return nil
}

func (m *Manager) deleteObject(ctx context.Context, rc rpc.Context, b catalog.Backup) error {
	if m.Storage == nil {
		return errors.New("this taskmanager has no backup storage configured")
	}
	creds := backupstore.Credentials{Token: rc.AuthToken}
	switch b.StorageDriver {
	case backupstore.DriverSwift:
		u, err := m.swiftURL(rc)
		if err != nil {
			return err
		}
		// the user's own storage URL: Swift itself refuses another project's object
		creds.StorageURL = u
	}
	// a directory store opened for the backup's project refuses a location outside that project's directory
	store, err := m.Storage(b.StorageDriver, b.TenantID, creds)
	if err != nil {
		return err
	}
	return store.Delete(ctx, b.Location)
}

// restoreInfo is prepare's backup_info for a create from a backup: the chain from the full backup to it.
func (m *Manager) restoreInfo(ctx context.Context, rc rpc.Context, backupID string) (map[string]any, error) {
	b, err := m.Catalog.GetBackup(ctx, backupID)
	if err != nil {
		return nil, err
	}
	info := guestapi.RestoreInfo{ID: b.ID, InstanceID: b.InstanceID, Location: b.Location, Type: b.BackupType,
		Checksum: b.Checksum, StorageDriver: b.StorageDriver}
	for p := b; ; {
		info.Chain = append([]guestapi.RestoreLink{{ID: p.ID, Location: p.Location, Checksum: p.Checksum}}, info.Chain...)
		if p.ParentID == "" {
			break
		}
		if len(info.Chain) > 1000 {
			return nil, permanent(fmt.Errorf("the backup chain of %s is longer than 1000", b.ID))
		}
		if p, err = m.Catalog.GetBackup(ctx, p.ParentID); err != nil {
			return nil, permanent(fmt.Errorf("parent of backup %s: %w", b.ID, err))
		}
	}
	switch b.StorageDriver {
	case backupstore.DriverSwift:
		if info.SwiftURL, err = m.swiftURL(rc); err != nil {
			return nil, permanent(err)
		}
	case "": // the configured store (a replication snapshot): Swift's URL when the caller's catalog has one
		info.SwiftURL, _ = m.swiftURL(rc)
	}
	return info.Map(), nil
}
