package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/api/internal/fault"
)

// Backup schedules (ours, additive; docs/api.md "Backup schedules"): an instance's periodic full or incremental
// backups with a retention rule, run by the taskmanager. Creating or deleting one is backup:create on the
// instance; listing is instance:backups.

// minScheduleInterval keeps schedules from flooding the store and the guest.
const minScheduleInterval = 60

type backupScheduleBody struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Interval  int    `json:"interval"` // seconds
	KeepCount int    `json:"keep_count"`
	KeepDays  int    `json:"keep_days"`
}

type backupScheduleView struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	InstanceID   string  `json:"instance_id"`
	Type         string  `json:"type"`
	Interval     int     `json:"interval"`
	KeepCount    int     `json:"keep_count"`
	KeepDays     int     `json:"keep_days"`
	NextRun      string  `json:"next_run"`
	LastRun      *string `json:"last_run"`
	LastBackupID *string `json:"last_backup_id"`
	LastError    *string `json:"last_error"`
	Created      string  `json:"created"`
}

func renderSchedule(s catalog.BackupSchedule) backupScheduleView {
	v := backupScheduleView{ID: s.ID, Name: s.Name, InstanceID: s.InstanceID, Type: s.BackupType, Interval: s.IntervalSeconds,
		KeepCount: s.KeepCount, KeepDays: s.KeepDays, NextRun: troveTime(s.NextRunAt), Created: troveTime(s.Created)}
	if s.LastRunAt != nil {
		t := troveTime(*s.LastRunAt)
		v.LastRun = &t
	}
	if s.LastBackupID != "" {
		v.LastBackupID = &s.LastBackupID
	}
	if s.LastError != "" {
		v.LastError = &s.LastError
	}
	return v
}

func troveTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") }

// decodeStrict reads doc's only key name into v (a pointer to a struct; unknown keys are 400): the body form of
// our additive instance sub-resources ({"backup_schedule": {...}}, {"restore_drill": {...}}).
func decodeStrict(doc any, name string, v any) error {
	m, ok := doc.(map[string]any)
	if !ok || m[name] == nil {
		return fault.BadRequest("%s is missing.", name)
	}
	for k := range m {
		if k != name {
			return fault.BadRequest("Invalid %s: unknown key %q.", name, shown(k))
		}
	}
	raw, _ := json.Marshal(m[name])
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fault.BadRequest("Invalid %s: %s", name, err.Error())
	}
	return nil
}

// parseSchedule reads {"backup_schedule": {...}} strictly.
func parseSchedule(doc any) (backupScheduleBody, error) {
	var s backupScheduleBody
	if err := decodeStrict(doc, "backup_schedule", &s); err != nil {
		return s, err
	}
	s.Name = strings.TrimSpace(s.Name)
	switch {
	case s.Name == "" || len(s.Name) > 255:
		return s, fault.BadRequest("name must be 1 to 255 characters.")
	case s.Type != guestapi.BackupFull && s.Type != guestapi.BackupIncremental:
		return s, fault.BadRequest("type must be full or incremental.")
	case s.Interval < minScheduleInterval || s.Interval > 366*24*3600:
		return s, fault.BadRequest("interval must be %d to %d seconds.", minScheduleInterval, 366*24*3600)
	case s.KeepCount < 0 || s.KeepDays < 0 || s.KeepCount > 10000 || s.KeepDays > 36600:
		return s, fault.BadRequest("keep_count and keep_days must be 0 (no rule) or positive.")
	}
	return s, nil
}

// listBackupSchedules is GET /instances/{id}/backup_schedules.
func (a *API) listBackupSchedules(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	row, err := a.loadInstance(r.Context(), rc, "instance:backups", mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	views, err := a.scheduleViews(r, row.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"backup_schedules": views})
}

func (a *API) scheduleViews(r *http.Request, instanceID string) ([]backupScheduleView, error) {
	rows, err := a.cat.ListBackupSchedules(r.Context(), instanceID)
	if err != nil {
		return nil, err
	}
	out := make([]backupScheduleView, 0, len(rows))
	for _, s := range rows {
		out = append(out, renderSchedule(s))
	}
	return out, nil
}

// createBackupSchedule is POST /instances/{id}/backup_schedules: the first run is due at once.
func (a *API) createBackupSchedule(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	ctx := r.Context()
	row, body, err := createInstanceChild(a, r, parseSchedule)
	if err != nil {
		return err
	}
	s, err := a.cat.CreateBackupSchedule(ctx, catalog.BackupSchedule{TenantID: row.TenantID, InstanceID: row.ID, Name: body.Name,
		BackupType: body.Type, IntervalSeconds: body.Interval, KeepCount: body.KeepCount, KeepDays: body.KeepDays})
	if err != nil {
		return err
	}
	rc.logger().WithField("instance_id", row.ID).WithField("schedule_id", s.ID).WithField("interval", s.IntervalSeconds).Info("backup schedule created")
	return writeJSON(w, http.StatusOK, map[string]backupScheduleView{"backup_schedule": renderSchedule(s)})
}

// deleteBackupSchedule is DELETE /instances/{id}/backup_schedules/{sid}: the schedule's backups stay.
func (a *API) deleteBackupSchedule(w http.ResponseWriter, r *http.Request) error {
	return a.deleteInstanceChild(w, r, "sid", "schedule_id", "backup schedule deleted", func(ctx context.Context, id string) (string, error) {
		s, err := a.cat.GetBackupSchedule(ctx, id)
		return s.InstanceID, err
	}, a.cat.DeleteBackupSchedule)
}

// createInstanceChild is the first half of creating an instance's object (a schedule, a drill): the instance's
// backup:create check, then the body read by parse; a clustered instance is 501.
func createInstanceChild[T any](a *API, r *http.Request, parse func(doc any) (T, error)) (*catalog.Instance, T, error) {
	var body T
	row, err := a.loadInstance(r.Context(), reqCtx(r), "backup:create", mux.Vars(r)["id"])
	if err != nil {
		return nil, body, err
	}
	doc, err := a.readBody(r)
	if err != nil {
		return nil, body, err
	}
	if body, err = parse(doc); err != nil {
		return nil, body, err
	}
	if row.ClusterID != "" {
		return nil, body, fault.NotImplemented("Operation not supported for instances that are part of a cluster.")
	}
	return row, body, nil
}

// deleteInstanceChild deletes the object of an instance named by the path variable idVar (a schedule, a drill)
// after the instance's backup:create check: another instance's object is 404 as a missing one.
func (a *API) deleteInstanceChild(w http.ResponseWriter, r *http.Request, idVar, logField, logMsg string,
	instanceOf func(ctx context.Context, id string) (string, error), del func(ctx context.Context, id string) error) error {
	rc := reqCtx(r)
	ctx := r.Context()
	row, err := a.loadInstance(ctx, rc, "backup:create", mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	id := mux.Vars(r)[idVar]
	owner, err := instanceOf(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && owner != row.ID) {
		return fault.NotFound(id)
	}
	if err != nil {
		return err
	}
	if err := del(ctx, id); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	rc.logger().WithField("instance_id", row.ID).WithField(logField, id).Info(logMsg)
	w.WriteHeader(http.StatusAccepted)
	return nil
}
