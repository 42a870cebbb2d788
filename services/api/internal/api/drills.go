package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/api/internal/fault"
)

// Restore drills (ours, additive; docs/api.md "Restore drills"): an instance's opt-in periodic check that its
// latest completed backup restores, run by the taskmanagers with [taskmanager] restore_drills_enabled. At most
// one per instance. Creating or deleting one is backup:create on the instance; listing is instance:backups. The
// result of the last drill of a backup is shown by backup show (restore_drill).

// minDrillInterval: a drill builds a whole instance; more often than hourly is a waste of the cloud.
const minDrillInterval = 3600

type restoreDrillView struct {
	ID           string  `json:"id"`
	InstanceID   string  `json:"instance_id"`
	Interval     int     `json:"interval"`
	NextRun      string  `json:"next_run"`
	LastRun      *string `json:"last_run"`
	LastBackupID *string `json:"last_backup_id"`
	LastResult   *string `json:"last_result"`
	LastError    *string `json:"last_error"`
	Created      string  `json:"created"`
}

func renderDrill(d catalog.RestoreDrill) restoreDrillView {
	v := restoreDrillView{ID: d.ID, InstanceID: d.InstanceID, Interval: d.IntervalSeconds, NextRun: troveTime(d.NextRunAt),
		LastBackupID: nullable(d.LastBackupID), LastResult: nullable(d.LastResult), LastError: nullable(d.LastError),
		Created: troveTime(d.Created)}
	if d.LastRunAt != nil {
		t := troveTime(*d.LastRunAt)
		v.LastRun = &t
	}
	return v
}

// backupDrillView is backup show's restore_drill: the last drill of the backup.
type backupDrillView struct {
	Result  string           `json:"result"` // passed / failed
	Time    string           `json:"time"`
	Message string           `json:"message"`
	Content backupDrillCheck `json:"content"`
}

// backupDrillCheck is what drills check the backup's restored contents against: the manifest its guest recorded
// (null: none, the contents are not checked) and the checksum the first passing drill recorded (null: none yet).
type backupDrillCheck struct {
	Manifest     *backupManifestView `json:"manifest"`
	Checksum     *string             `json:"checksum"`
	ChecksumTime *string             `json:"checksum_time"`
}

// backupManifestView counts what a backup's content manifest names.
type backupManifestView struct {
	Databases int `json:"databases"`
	Tables    int `json:"tables"`
}

// backupDrill is the last drill of a backup, nil when it was never drilled.
func (a *API) backupDrill(ctx context.Context, b *catalog.Backup) (*backupDrillView, error) {
	r, ok, err := a.cat.GetDrillResult(ctx, b.ID)
	if err != nil || !ok {
		return nil, err
	}
	v := &backupDrillView{Result: r.Result, Time: troveTime(r.DrilledAt), Message: r.Message}
	var manifest guestapi.ContentManifest
	if b.ContentManifest != "" && json.Unmarshal([]byte(b.ContentManifest), &manifest) == nil {
		v.Content.Manifest = &backupManifestView{Databases: len(manifest), Tables: manifest.Tables()}
	}
	if b.ContentChecksum != "" {
		sum := b.ContentChecksum
		v.Content.Checksum = &sum
		if b.ContentChecksumAt != nil {
			at := troveTime(*b.ContentChecksumAt)
			v.Content.ChecksumTime = &at
		}
	}
	return v, nil
}

// parseDrill reads {"restore_drill": {"interval": seconds}} strictly.
func parseDrill(doc any) (int, error) {
	var d struct {
		Interval int `json:"interval"`
	}
	if err := decodeStrict(doc, "restore_drill", &d); err != nil {
		return 0, err
	}
	if d.Interval < minDrillInterval || d.Interval > 366*24*3600 {
		return 0, fault.BadRequest("interval must be %d to %d seconds.", minDrillInterval, 366*24*3600)
	}
	return d.Interval, nil
}

// listRestoreDrills is GET /instances/{id}/restore_drills.
func (a *API) listRestoreDrills(w http.ResponseWriter, r *http.Request) error {
	row, err := a.loadInstance(r.Context(), reqCtx(r), "instance:backups", mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	rows, err := a.cat.ListRestoreDrills(r.Context(), row.ID)
	if err != nil {
		return err
	}
	out := make([]restoreDrillView, 0, len(rows))
	for _, d := range rows {
		out = append(out, renderDrill(d))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"restore_drills": out})
}

// createRestoreDrill is POST /instances/{id}/restore_drills: the first drill is due one interval from now
// (a fresh instance has no backup yet); 409 when the instance has a drill.
func (a *API) createRestoreDrill(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	ctx := r.Context()
	row, interval, err := createInstanceChild(a, r, parseDrill)
	if err != nil {
		return err
	}
	if row.Type == catalog.InstanceTypeDrill {
		return fault.BadRequest("Instance %s is a restore drill's throwaway instance.", row.ID)
	}
	d, err := a.cat.CreateRestoreDrill(ctx, catalog.RestoreDrill{TenantID: row.TenantID, InstanceID: row.ID, IntervalSeconds: interval,
		NextRunAt: a.cat.Now().Add(time.Duration(interval) * time.Second)})
	var ce *catalog.Error
	if errors.Is(err, catalog.ErrConflict) && errors.As(err, &ce) {
		return fault.New(http.StatusConflict, "%s", ce.Message)
	}
	if err != nil {
		return err
	}
	rc.logger().WithField("instance_id", row.ID).WithField("drill_id", d.ID).WithField("interval", interval).Info("restore drill created")
	return writeJSON(w, http.StatusOK, map[string]restoreDrillView{"restore_drill": renderDrill(d)})
}

// deleteRestoreDrill is DELETE /instances/{id}/restore_drills/{did}: the results it recorded stay.
func (a *API) deleteRestoreDrill(w http.ResponseWriter, r *http.Request) error {
	return a.deleteInstanceChild(w, r, "did", "drill_id", "restore drill deleted", func(ctx context.Context, id string) (string, error) {
		d, err := a.cat.GetRestoreDrill(ctx, id)
		return d.InstanceID, err
	}, a.cat.DeleteRestoreDrill)
}
