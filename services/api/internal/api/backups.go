package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/services/api/internal/fault"
)

type backupDatastore struct {
	Type      string `json:"type"`
	Version   string `json:"version"`
	VersionID string `json:"version_id"`
}

// backupView is Trove's BackupView.
type backupView struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Description *string          `json:"description"`
	LocationRef *string          `json:"locationRef"`
	InstanceID  *string          `json:"instance_id"`
	Created     string           `json:"created"`
	Updated     string           `json:"updated"`
	Size        *float64         `json:"size"`
	Status      string           `json:"status"`
	ParentID    *string          `json:"parent_id"`
	ProjectID   string           `json:"project_id"`
	Datastore   *backupDatastore `json:"datastore,omitempty"`
	// RestoreDrill (ours) is the last restore drill of the backup, shown by backup show (drills.go).
	RestoreDrill *backupDrillView `json:"restore_drill,omitempty"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (a *API) renderBackup(ctx context.Context, snap *dsSnapshot, b *catalog.Backup) backupView {
	v := backupView{ID: b.ID, Name: b.Name, Description: nullable(b.Description), LocationRef: nullable(b.Location),
		InstanceID: nullable(b.InstanceID), Created: b.Created.UTC().Format(timeFormat), Updated: b.Updated.UTC().Format(timeFormat),
		Status: b.State, ParentID: nullable(b.ParentID), ProjectID: b.TenantID}
	if b.Size != 0 {
		size := b.Size
		v.Size = &size
	}
	if b.DatastoreVersionID != "" {
		in := instanceInfo{row: &catalog.Instance{DatastoreVersionID: b.DatastoreVersionID}}
		a.attachVersion(ctx, snap, &in)
		if in.version != nil {
			v.Datastore = &backupDatastore{Type: in.dsName, Version: in.version.Name, VersionID: in.version.ID}
		}
	}
	return v
}

// listBackups is GET /backups[?instance_id=&datastore=&project_id=&all_projects=] and GET /instances/{id}/backups.
func (a *API) listBackups(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	ctx := r.Context()
	q := r.URL.Query()
	f := catalog.BackupFilter{TenantID: rc.Token.ProjectID, InstanceID: q.Get("instance_id"), Limit: a.cfg.InstancesPageSize}
	if id := mux.Vars(r)["id"]; id != "" { // instance backups: the instance must be visible to the caller
		row, err := a.loadInstance(ctx, rc, "instance:backups", id)
		if err != nil {
			return err
		}
		f.InstanceID = row.ID
		if rc.IsAdmin {
			f.TenantID = ""
		}
	} else {
		if err := a.enforce(rc, "backup:index", rc.Token.ProjectID); err != nil {
			return err
		}
		allProjects := boolFromString(q.Get("all_projects"))
		if allProjects || q.Get("project_id") != "" {
			if err := a.enforce(rc, "backup:index:all_projects", rc.Token.ProjectID); err != nil {
				return err
			}
			f.TenantID = q.Get("project_id")
		}
		if ds := q.Get("datastore"); ds != "" {
			d, v, err := a.resolveVersion(ctx, ds, "")
			if err != nil && d.ID == "" {
				return err
			}
			f.DatastoreVersionID = v.ID
		}
	}
	limit, offset, err := offsetPage(q)
	if err != nil {
		return err
	}
	if limit > 0 {
		f.Limit = limit
	}
	f.Offset = offset
	rows, next, err := a.cat.ListBackups(ctx, f)
	if err != nil {
		return err
	}
	snap, err := a.ds.get(ctx)
	if err != nil {
		return err
	}
	out := make([]backupView, len(rows))
	for i := range rows {
		out[i] = a.renderBackup(ctx, snap, &rows[i])
	}
	body := map[string]any{"backups": out}
	if next != "" {
		body["links"] = nextLink(r, next, f.Limit)
	}
	return writeJSON(w, http.StatusOK, body)
}

// boolFromString is oslo's bool_from_string (true, yes, on, 1, y, t).
func boolFromString(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true
	}
	return false
}

// showBackup is GET /backups/{id}: another project's backup is 404 for non-admins.
func (a *API) showBackup(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	ctx := r.Context()
	b, err := a.loadBackup(ctx, rc, "backup:show", mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	snap, err := a.ds.get(ctx)
	if err != nil {
		return err
	}
	v := a.renderBackup(ctx, snap, b)
	if v.RestoreDrill, err = a.backupDrill(ctx, b); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]backupView{"backup": v})
}

// loadBackup is the object half of the backup routes: the policy check against the caller's project first,
// then the row; another project's backup is 404 unless admin (as loadInstance for instances).
func (a *API) loadBackup(ctx context.Context, rc *requestContext, rule, id string) (*catalog.Backup, error) {
	if err := a.enforce(rc, rule, rc.Token.ProjectID); err != nil {
		return nil, err
	}
	if !canonicalID(id) {
		return nil, fault.NotFound(id)
	}
	b, err := a.cat.GetBackup(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && !rc.IsAdmin && b.TenantID != rc.Token.ProjectID) {
		return nil, fault.NotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// offsetPage reads the paging of Trove's offset-paginated lists (backups, mgmt instances: ORDER BY updated DESC,
// marker = integer offset, api.md §1.4). limit is 0 when the query has none.
func offsetPage(q url.Values) (limit, offset int, err error) {
	if s := q.Get("limit"); s != "" {
		if limit, err = parsePositive(s); err != nil {
			return 0, 0, err
		}
	}
	if s := q.Get("marker"); s != "" {
		n, convErr := strconv.Atoi(s)
		if convErr != nil || n < 0 {
			return 0, 0, fault.BadRequest("marker must be a non-negative integer.")
		}
		offset = n
	}
	return limit, offset, nil
}
