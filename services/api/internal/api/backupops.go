package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/services/api/internal/fault"
	"github.com/trove-go/trove/services/api/internal/schema"
)

// shellSafe is what Trove accepts as a swift_container: the value must equal its shell-quoted form.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// backupRPCContext is the caller's context plus its token: the guest stores the backup as the user (Swift), as
// Trove's does.
func backupRPCContext(r *http.Request, rc *requestContext) rpc.Context {
	c := rc.rpcContext()
	c.AuthToken = r.Header.Get("X-Auth-Token")
	return c
}

// createBackup is POST /backups (Trove's Backup.create): validate, resolve the parent, take the quota with the
// NEW row, cast create_backup.
func (a *API) createBackup(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	ctx := r.Context()
	if err := a.enforce(rc, "backup:create", rc.Token.ProjectID); err != nil {
		return err
	}
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	req, err := schema.ParseBackup(doc)
	if err != nil {
		return err
	}
	if req.RestoreFrom != nil {
		return fault.NotImplemented("Registering a backup from a remote location (restore_from) is not supported by this deployment.")
	}
	if req.Instance == "" {
		return fault.BadRequest("instance is missing.")
	}
	if req.SwiftContainer != "" && !shellSafe.MatchString(req.SwiftContainer) {
		return fault.BadRequest("Invalid swift_container: %s.", req.SwiftContainer)
	}
	row, err := a.loadInstance(ctx, rc, "backup:create", req.Instance)
	if err != nil {
		return err
	}
	if row.ClusterID != "" {
		return fault.NotImplemented("Operation not supported for instances that are part of a cluster.")
	}
	if err := a.checkCanAct(ctx, row); err != nil {
		return err
	}
	snap, err := a.ds.get(ctx)
	if err != nil {
		return err
	}
	in := instanceInfo{row: row}
	a.attachVersion(ctx, snap, &in)
	if in.version == nil {
		return fault.BadRequest("Datastore version '%s' cannot be found.", row.DatastoreVersionID)
	}
	if a.cfg.manager(in.version.Manager).BackupStrategy == "" {
		return fault.NotImplemented("Backup is not supported for datastore %s.", in.dsName)
	}
	parent, err := a.backupParent(ctx, row, req)
	if err != nil {
		return err
	}
	container := req.SwiftContainer
	if container == "" {
		s, ok, err := a.cat.BackupStrategyFor(ctx, row.TenantID, row.ID)
		if err != nil {
			return err
		}
		container = a.cfg.BackupSwiftContainer
		if ok && s.SwiftContainer != "" {
			container = s.SwiftContainer
		}
	}
	b := catalog.Backup{Name: req.Name, TenantID: row.TenantID, InstanceID: row.ID, State: status.BackupNew,
		DatastoreVersionID: row.DatastoreVersionID, StorageDriver: a.cfg.StorageStrategy, BackupType: guestapi.BackupFull}
	if req.Description != nil {
		b.Description = *req.Description
	}
	info := guestapi.BackupInfo{Name: req.Name, Description: req.Description, InstanceID: row.ID,
		BackupType: guestapi.BackupFull, Datastore: in.dsName, DatastoreVersion: in.version.Name,
		StorageDriver: a.cfg.StorageStrategy, SwiftContainer: &container}
	if parent != nil {
		b.ParentID, b.BackupType = parent.ID, guestapi.BackupIncremental
		info.BackupType = guestapi.BackupIncremental
		info.Parent = &guestapi.BackupParent{ID: parent.ID, Location: parent.Location, Checksum: parent.Checksum}
	}
	b, err = a.cat.CreateBackup(ctx, b, a.cfg.Quotas)
	var qe *catalog.QuotaExceededError
	if errors.As(err, &qe) {
		return fault.OverLimit("%s", qe.Error())
	}
	if err != nil {
		return err
	}
	info.ID = b.ID
	log := rc.logger().WithField("backup_id", b.ID).WithField("instance_id", row.ID)
	if err := a.tm.CreateBackup(ctx, backupRPCContext(r, rc), taskapi.CreateBackupArgs{BackupInfo: info, InstanceID: row.ID}); err != nil {
		failed := status.BackupFailed
		if uerr := a.cat.UpdateBackup(context.WithoutCancel(ctx), b.ID, catalog.BackupUpdate{State: &failed}); uerr != nil {
			log.WithError(uerr).Error("marking the backup FAILED after the taskmanager refused it")
		}
		return fmt.Errorf("casting create_backup for %s: %w", b.ID, err)
	}
	log.WithField("backup_type", b.BackupType).Info("backup accepted")
	return writeJSON(w, http.StatusAccepted, map[string]backupView{"backup": a.renderBackup(ctx, snap, &b)})
}

// backupParent is the parent of an incremental: parent_id (COMPLETED, of the same instance), or with
// incremental and no parent_id the instance's latest COMPLETED backup (none: a full backup), as Trove does.
func (a *API) backupParent(ctx context.Context, row *catalog.Instance, req *schema.BackupBody) (*catalog.Backup, error) {
	if req.ParentID != "" {
		p, err := a.cat.GetBackup(ctx, req.ParentID)
		if errors.Is(err, catalog.ErrNotFound) || (err == nil && p.TenantID != row.TenantID) {
			return nil, fault.NotFound(req.ParentID)
		}
		if err != nil {
			return nil, err
		}
		if p.InstanceID != row.ID {
			return nil, fault.BadRequest("Parent backup %s is not a backup of instance %s.", p.ID, row.ID)
		}
		if p.State != status.BackupCompleted {
			return nil, fault.BadRequest("Parent backup %s is not completed (state %s).", p.ID, p.State)
		}
		return &p, nil
	}
	if !req.Incremental {
		return nil, nil
	}
	rows, _, err := a.cat.ListBackups(ctx, catalog.BackupFilter{TenantID: row.TenantID, InstanceID: row.ID})
	if err != nil {
		return nil, err
	}
	var latest *catalog.Backup
	for i := range rows {
		if rows[i].State == status.BackupCompleted && (latest == nil || rows[i].Created.After(latest.Created)) {
			latest = &rows[i]
		}
	}
	return latest, nil
}

// deleteBackup is DELETE /backups/{id}: the backup and, first, its incremental children (recursively); a
// running backup younger than running_backups_expires is 422. The taskmanager removes each stored object and
// the row (which releases the quota).
func (a *API) deleteBackup(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	ctx := r.Context()
	b, err := a.loadBackup(ctx, rc, "backup:delete", mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	rows, _, err := a.cat.ListBackups(ctx, catalog.BackupFilter{TenantID: b.TenantID})
	if err != nil {
		return err
	}
	// Children before parents: the order of a depth-first walk, reversed.
	var order []catalog.Backup
	var walk func(p catalog.Backup)
	walk = func(p catalog.Backup) {
		order = append(order, p)
		for _, c := range rows {
			if c.ParentID == p.ID {
				walk(c)
			}
		}
	}
	walk(*b)
	now := a.now()
	for _, x := range order {
		if x.Running() && now.Sub(x.Updated) < a.cfg.RunningBackupsExpires {
			return fault.Unprocessable("Backup %s cannot be deleted because it is running.", x.ID)
		}
	}
	rpcCtx := backupRPCContext(r, rc)
	for i := len(order) - 1; i >= 0; i-- {
		if err := a.tm.DeleteBackup(ctx, rpcCtx, taskapi.DeleteBackupArgs{BackupID: order[i].ID}); err != nil {
			return fmt.Errorf("casting delete_backup for %s: %w", order[i].ID, err)
		}
	}
	rc.logger().WithField("backup_id", b.ID).WithField("children", len(order)-1).Info("backup delete accepted")
	return writeEmpty(w, http.StatusAccepted)
}

// strategyView is Trove's backup strategy view.
type strategyView struct {
	ProjectID      string `json:"project_id"`
	InstanceID     string `json:"instance_id"`
	Backend        string `json:"backend"`
	SwiftContainer string `json:"swift_container"`
}

func viewStrategy(s catalog.BackupStrategy) strategyView {
	return strategyView{ProjectID: s.TenantID, InstanceID: s.InstanceID, Backend: s.Backend, SwiftContainer: s.SwiftContainer}
}

// strategyProject is the project a backup strategy request acts on: ?project_id= (admins only, else 403) or the
// caller's.
func (a *API) strategyProject(rc *requestContext, r *http.Request, rule string) (string, error) {
	project := rc.Token.ProjectID
	if p := r.URL.Query().Get("project_id"); p != "" && p != project {
		if !rc.IsAdmin {
			return "", fault.Forbidden("Backup strategies of another project are for administrators only.")
		}
		project = p
	}
	return project, a.enforce(rc, rule, project)
}

// createBackupStrategy is POST /backup_strategies (upsert per project and instance; ” = project default).
func (a *API) createBackupStrategy(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	ctx := r.Context()
	project, err := a.strategyProject(rc, r, "backup_strategy:create")
	if err != nil {
		return err
	}
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	req, err := schema.ParseBackupStrategy(doc)
	if err != nil {
		return err
	}
	if !shellSafe.MatchString(req.SwiftContainer) {
		return fault.BadRequest("Invalid swift_container: %s.", req.SwiftContainer)
	}
	if req.InstanceID != "" {
		row, err := a.loadInstance(ctx, rc, "backup_strategy:create", req.InstanceID)
		if err != nil {
			return err
		}
		project = row.TenantID
	}
	s, err := a.cat.SetBackupStrategy(ctx, project, req.InstanceID, req.SwiftContainer)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]strategyView{"backup_strategy": viewStrategy(s)})
}

// listBackupStrategies is GET /backup_strategies[?instance_id=&project_id=].
func (a *API) listBackupStrategies(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	project, err := a.strategyProject(rc, r, "backup_strategy:index")
	if err != nil {
		return err
	}
	rows, err := a.cat.ListBackupStrategies(r.Context(), project, r.URL.Query().Get("instance_id"))
	if err != nil {
		return err
	}
	out := make([]strategyView, len(rows))
	for i, s := range rows {
		out[i] = viewStrategy(s)
	}
	return writeJSON(w, http.StatusOK, map[string][]strategyView{"backup_strategies": out})
}

// deleteBackupStrategy is DELETE /backup_strategies[?instance_id=&project_id=] (a missing one: still 202).
func (a *API) deleteBackupStrategy(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	project, err := a.strategyProject(rc, r, "backup_strategy:delete")
	if err != nil {
		return err
	}
	if err := a.cat.DeleteBackupStrategy(r.Context(), project, r.URL.Query().Get("instance_id")); err != nil {
		return err
	}
	return writeEmpty(w, http.StatusAccepted)
}

// restoreChain checks restorePoint's backup (the caller's, successful, with a location, of the requested
// datastore, fitting the volume) and returns the chain to apply: the full backup first, this one last.
func (a *API) restoreChain(ctx context.Context, rc *requestContext, backupID, manager string, volumeSize int) ([]catalog.Backup, error) {
	b, err := a.cat.GetBackup(ctx, backupID)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && b.TenantID != rc.Token.ProjectID) {
		return nil, fault.NotFound(backupID)
	}
	if err != nil {
		return nil, err
	}
	if b.State != status.BackupCompleted && b.State != status.BackupRestored {
		return nil, fault.BadRequest("Unable to create instance because backup %s is not completed. Current state: %s.", b.ID, b.State)
	}
	if b.Location == "" {
		return nil, fault.BadRequest("Unable to create instance because backup %s has no location.", b.ID)
	}
	if volumeSize > 0 && b.Size > float64(volumeSize) {
		return nil, fault.BadRequest("The size of the backup %s (%.2f GB) is larger than the volume size of %d GB.", b.ID, b.Size, volumeSize)
	}
	if v, err := a.cat.GetVersion(ctx, b.DatastoreVersionID); err == nil && v.Manager != manager {
		return nil, fault.BadRequest("The backup %s is of datastore manager %s, not %s.", b.ID, v.Manager, manager)
	}
	chain := []catalog.Backup{b}
	for p := b; p.ParentID != ""; {
		if len(chain) > 1000 {
			return nil, fault.BadRequest("The backup chain of %s is too long.", b.ID)
		}
		parent, err := a.cat.GetBackup(ctx, p.ParentID)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, fault.BadRequest("Unable to create instance because the parent %s of backup %s is gone.", p.ParentID, p.ID)
		}
		if err != nil {
			return nil, err
		}
		chain = append([]catalog.Backup{parent}, chain...)
		p = parent
	}
	return chain, nil
}
