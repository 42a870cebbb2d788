package flows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// Restore drills (ours; docs/api.md "Restore drills"): an instance's opt-in periodic check that its latest
// completed backup restores. A run builds a throwaway instance (drill-<backup id>, the source's project,
// flavor, volume size and datastore version, no quota) from the backup through the create flow, so the guest
// restores the whole chain exactly as a user's restore does: every chunk of an encrypted object is
// authenticated and every object's checksum is compared with the one the backup recorded before the database
// starts. The instance must become ACTIVE within usage_timeout and its guest answer list_databases. Then the
// contents: our guest records with the backup (update_backup's content_manifest) the tables of every user
// database when the backup completed; the drill asks the restored guest for its tables and a checksum of each
// (get_content_manifest), fails when a database or table the backup recorded is missing, records the digest of
// the checksums on the backup the first time a drill of it passes, and fails a later drill whose restore
// digests differently. A backup without a manifest (made before manifests, or by a Python guest) is drilled
// as before, the message saying its contents were not checked. The result (with the databases listed, or the
// throwaway instance's fault) is recorded on the backup, and the throwaway instance is deleted whatever
// happened.

// drillLease is a claimed drill's lease, renewed every third of it while the run lasts (as schedules).
const drillLease = 2 * time.Minute

// drillRPC is the request context of a drill's calls (no user token: only directory and s3 stores).
func drillRPC(tenant string) rpc.Context {
	return rpc.Context{ProjectID: tenant, RequestID: "req-restore-drill-" + catalog.NewID()}
}

// RunDrills runs due restore drills every Config.DrillPoll until ctx ends; owner names this taskmanager in the
// catalog's leases (as RunSchedules).
func (m *Manager) RunDrills(ctx context.Context, owner string) {
	m.pollDue(ctx, m.Config.DrillPoll, time.Minute, "restore drills", func() error { return m.RunDueDrills(ctx, owner) })
}

// pollDue calls run every every (dflt when not set) until ctx ends; a failed look is logged and tried again.
func (m *Manager) pollDue(ctx context.Context, every, dflt time.Duration, what string, run func() error) {
	if every <= 0 {
		every = dflt
	}
	for {
		if err := run(); err != nil && ctx.Err() == nil {
			m.Log.WithError(err).Warn(what + ": looking for due runs failed; tried again at the next poll")
		}
		if sleep(ctx, every) != nil {
			return
		}
	}
}

// RunDueDrills claims the drills due now (m.TimeNow) and runs them one after another.
func (m *Manager) RunDueDrills(ctx context.Context, owner string) error {
	due, err := m.Catalog.ClaimDueDrills(ctx, owner, m.TimeNow(), drillLease, 20)
	if err != nil {
		return err
	}
	for _, d := range due {
		if err := m.runDrill(ctx, owner, d); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.log(d.InstanceID).WithField("drill_id", d.ID).WithError(err).Warn("restore drill run failed")
		}
	}
	return nil
}

// holdLease renews a lease every third of lease until the returned stop is called.
func (m *Manager) holdLease(ctx context.Context, lease time.Duration, log logrus.FieldLogger, renew func(ctx context.Context, until time.Time) error) (context.Context, context.CancelFunc) {
	rctx, stop := context.WithCancel(ctx)
	go func() {
		for sleep(rctx, lease/3) == nil {
			if err := renew(rctx, m.TimeNow().Add(lease)); err != nil && rctx.Err() == nil {
				log.WithError(err).Warn("renewing the lease failed")
			}
		}
	}()
	return rctx, stop
}

func (m *Manager) runDrill(ctx context.Context, owner string, d catalog.RestoreDrill) error {
	log := m.log(d.InstanceID).WithField("drill_id", d.ID)
	rctx, stop := m.holdLease(ctx, drillLease, log, func(ctx context.Context, until time.Time) error {
		return m.Catalog.RenewDrillLease(ctx, d.ID, owner, until)
	})
	defer stop()
	bg := context.WithoutCancel(ctx)
	// a run interrupted by a crash left its throwaway instance: it goes first
	if d.DrillInstanceID != "" {
		if err := m.DeleteInstance(bg, drillRPC(d.TenantID), d.DrillInstanceID); err != nil {
			return m.endDrill(bg, owner, d, "", "", fmt.Errorf("deleting the throwaway instance %s of an interrupted drill: %w", d.DrillInstanceID, err))
		}
		if err := m.Catalog.SetDrillInstance(bg, d.ID, owner, ""); err != nil {
			return err
		}
		log.WithField("drill_instance_id", d.DrillInstanceID).Info("restore drill: deleted the throwaway instance of an interrupted run")
	}
	src, err := m.Catalog.GetInstance(rctx, d.InstanceID)
	if errors.Is(err, catalog.ErrNotFound) {
		log.Info("restore drill removed: its instance is deleted")
		return m.Catalog.DeleteRestoreDrill(bg, d.ID)
	}
	if err != nil {
		return m.endDrill(bg, owner, d, "", "", err)
	}
	b, ok, err := m.latestCompleted(rctx, src.TenantID, src.ID)
	if err != nil || !ok {
		if err == nil {
			err = errors.New("the instance has no completed backup to drill")
		}
		return m.endDrill(bg, owner, d, "", "", err)
	}
	if b.StorageDriver == backupstore.DriverSwift {
		// as scheduled backups: Swift serves a backup to the user's token, a drill has none
		return m.endDrill(bg, owner, d, b.ID, "", errors.New("restore drills need storage_strategy directory or s3: Swift serves backups with the user's token"))
	}
	result, msg, throwaway, err := m.drill(rctx, owner, d, src, b)
	if ctx.Err() != nil {
		return ctx.Err() // the next claim deletes the throwaway instance and drills again
	}
	if result != "" { // the restore was tried: its result is the backup's, even when the clean-up failed
		if rerr := m.Catalog.RecordDrillResult(bg, catalog.DrillResult{BackupID: b.ID, DrillID: d.ID, Result: result,
			DrilledAt: m.TimeNow(), Message: msg, DrillInstanceID: throwaway}); rerr != nil {
			return m.endDrill(bg, owner, d, b.ID, "", rerr)
		}
		log.WithField("backup_id", b.ID).WithField("result", result).WithField("message", msg).Info("restore drill ran")
	}
	if err == nil && result == catalog.DrillFailed {
		err = errors.New(msg)
	}
	return m.endDrill(bg, owner, d, b.ID, result, err)
}

// endDrill records a run's end and the next run (one interval after the slot, or after now when that is past).
func (m *Manager) endDrill(ctx context.Context, owner string, d catalog.RestoreDrill, backupID, result string, runErr error) error {
	next := d.NextRunAt.Add(time.Duration(d.IntervalSeconds) * time.Second)
	if now := m.TimeNow(); !next.After(now) {
		next = now.Add(time.Duration(d.IntervalSeconds) * time.Second)
	}
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	if err := m.Catalog.DrillRunEnd(ctx, d.ID, owner, m.TimeNow(), next, backupID, result, msg); err != nil {
		return err
	}
	return runErr
}

// drill restores b into a throwaway instance, checks it and deletes it. err is ours (the drill could not be
// run or its instance not deleted); a restore that fails is result failed with the instance's fault.
func (m *Manager) drill(ctx context.Context, owner string, d catalog.RestoreDrill, src catalog.Instance, b catalog.Backup) (result, msg, throwaway string, err error) {
	rc := drillRPC(src.TenantID)
	versionID := b.DatastoreVersionID
	if versionID == "" {
		versionID = src.DatastoreVersionID
	}
	ver, err := m.Catalog.GetVersion(ctx, versionID)
	if err != nil {
		return "", "", throwaway, err
	}
	flavor, err := m.Compute.GetFlavor(ctx, src.FlavorID)
	if err != nil {
		return "", "", throwaway, fmt.Errorf("the instance's flavor %s: %w", src.FlavorID, err)
	}
	in := catalog.Instance{Name: "drill-" + b.ID, TenantID: src.TenantID, FlavorID: src.FlavorID, VolumeSize: src.VolumeSize,
		DatastoreVersionID: ver.ID, Type: catalog.InstanceTypeDrill}
	if src.EncryptedKey != "" { // keyed like its source
		key, err := keyring.NewInstanceKey()
		if err != nil {
			return "", "", throwaway, err
		}
		if in.EncryptedKey, err = keyring.Wrap(m.Config.InstRPCKeyEncrKey, key); err != nil {
			return "", "", throwaway, err
		}
	}
	rows, err := m.Catalog.CreateInstance(ctx, catalog.CreateInstanceParams{Instances: []catalog.Instance{in}}) // no quota deltas
	if err != nil {
		return "", "", throwaway, err
	}
	in, throwaway = rows[0], rows[0].ID
	log := m.log(src.ID).WithField("drill_id", d.ID).WithField("drill_instance_id", in.ID).WithField("backup_id", b.ID)
	if err := m.Catalog.SetDrillInstance(ctx, d.ID, owner, in.ID); err != nil {
		_ = m.DeleteInstance(context.WithoutCancel(ctx), rc, in.ID)
		return "", "", throwaway, err
	}
	defer func() {
		if ctx.Err() != nil {
			return // the taskmanager is stopping: the next run deletes the instance (drill_instance_id)
		}
		bg := context.WithoutCancel(ctx)
		if derr := m.DeleteInstance(bg, rc, in.ID); derr != nil {
			log.WithError(derr).Error("restore drill: deleting the throwaway instance failed; the next run deletes it")
			err = fmt.Errorf("deleting the throwaway instance %s: %w", in.ID, derr)
			return
		}
		if cerr := m.Catalog.SetDrillInstance(bg, d.ID, owner, ""); cerr != nil {
			err = cerr
		}
	}()
	args := taskapi.CreateInstanceArgs{InstanceID: in.ID, Name: in.Name, ImageID: ver.ImageID, DatastoreManager: ver.Manager,
		Flavor:    taskapi.Flavor{ID: flavor.ID, Name: flavor.Name, RAM: flavor.RAM, VCPUs: flavor.VCPUs, Disk: flavor.Disk},
		DSVersion: ver.Name, BackupID: &b.ID}
	if args.ImageID == "" {
		args.ImageID = ver.ImageTags // the compute driver resolves tags
	}
	if ver.Packages != "" {
		args.Packages = &ver.Packages
	}
	if in.VolumeSize > 0 {
		size := in.VolumeSize
		args.VolumeSize = &size
	}
	started := m.TimeNow()
	log.Info("restore drill: restoring the backup into a throwaway instance")
	createErr := m.CreateInstance(ctx, rc, args)
	if ctx.Err() != nil {
		return "", "", throwaway, ctx.Err()
	}
	got, err := m.Catalog.GetInstance(ctx, in.ID)
	if err != nil {
		return "", "", throwaway, err
	}
	if createErr != nil || got.Task() != status.TaskNone {
		why := "the restore did not become ACTIVE"
		if f, ferr := m.Catalog.GetFault(ctx, in.ID); ferr == nil {
			why += ": " + strings.TrimSpace(f.Message+" "+f.Details)
		} else if createErr != nil {
			why += ": " + createErr.Error()
		}
		return catalog.DrillFailed, why, throwaway, nil
	}
	g, _, err := m.guest(ctx, in.ID)
	if err != nil {
		return "", "", throwaway, err
	}
	page, err := g.ListDatabases(ctx, rc, guestapi.ListArgs{})
	if err != nil {
		return catalog.DrillFailed, "the restored instance is ACTIVE but its guest does not answer list_databases: " + err.Error(), throwaway, nil
	}
	names := make([]string, 0, len(page.Items))
	for _, s := range page.Items {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	msg = fmt.Sprintf("restored and ACTIVE in %s; object checksums and chunk authentication verified by the restore; %d databases: %s",
		m.TimeNow().Sub(started).Round(time.Second), len(names), strings.Join(names, ", "))
	ok, why, err := m.drillContents(ctx, rc, g, b.ID)
	if !ok {
		if err != nil {
			return "", "", throwaway, err
		}
		return catalog.DrillFailed, why, throwaway, nil
	}
	return catalog.DrillPassed, msg + "; " + why, throwaway, err
}

// drillMissingShown is how many missing databases or tables a failed drill names.
const drillMissingShown = 20

// drillContents checks a restored backup's contents against what the backup recorded (the manifest its guest
// took at completion, the digest a first passing drill recorded) and records the digest when none is. ok is
// false when the drill fails (why says why) or when err (ours) stops it; when ok, why describes the check and
// err is a failure to record the digest.
func (m *Manager) drillContents(ctx context.Context, rc rpc.Context, g *guestapi.Client, backupID string) (ok bool, why string, err error) {
	b, err := m.Catalog.GetBackup(ctx, backupID) // the list the drill chose from has no content columns
	if err != nil {
		return false, "", err
	}
	if b.ContentManifest == "" {
		return true, "contents not checked: the backup recorded no content manifest (made before manifests, or by a Python guest)", nil
	}
	var recorded guestapi.ContentManifest
	if err := json.Unmarshal([]byte(b.ContentManifest), &recorded); err != nil {
		return false, "the backup's recorded content manifest cannot be read: " + err.Error(), nil
	}
	got, err := g.GetContentManifest(ctx, rc, guestapi.GetContentManifestArgs{Checksums: true})
	if err != nil {
		return false, "the restored instance is ACTIVE but its guest does not describe its contents (get_content_manifest): " + err.Error(), nil
	}
	if missing := recorded.Missing(got.Manifest); len(missing) > 0 {
		shown := missing[:min(len(missing), drillMissingShown)]
		more := ""
		if len(missing) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(missing)-len(shown))
		}
		return false, fmt.Sprintf("the restore lacks %d of the databases and tables the backup recorded: %s%s", len(missing), strings.Join(shown, ", "), more), nil
	}
	digest := got.Checksums.Digest()
	checked := fmt.Sprintf("contents checked: the %d databases and %d tables the backup recorded are there", len(recorded), recorded.Tables())
	if b.ContentChecksum != "" {
		when := "an earlier drill"
		if b.ContentChecksumAt != nil {
			when = b.ContentChecksumAt.UTC().Format(time.RFC3339)
		}
		if digest != b.ContentChecksum {
			why := fmt.Sprintf("the backup restored to different contents than on %s: checksum %s, recorded %s", when, digest, b.ContentChecksum)
			if tables := changedTables(b.ContentTableChecksums, got.Checksums); len(tables) > 0 {
				why += "; tables that differ: " + strings.Join(tables[:min(len(tables), drillMissingShown)], ", ")
			}
			return false, why, nil
		}
		return true, fmt.Sprintf("%s; their checksum %s matches the one recorded on %s", checked, digest, when), nil
	}
	tables, err := json.Marshal(got.Checksums)
	if err != nil {
		return false, "", err
	}
	if _, err := m.Catalog.RecordContentChecksum(context.WithoutCancel(ctx), backupID, digest, string(tables), m.TimeNow()); err != nil {
		return true, checked, fmt.Errorf("recording the content checksum of backup %s: %w", backupID, err)
	}
	return true, fmt.Sprintf("%s; their checksum %s recorded", checked, digest), nil
}

// changedTables names the tables (db.table) whose checksum differs from the recorded JSON's, sorted; none when
// it cannot be read.
func changedTables(recordedJSON string, got guestapi.ContentChecksums) []string {
	var recorded guestapi.ContentChecksums
	if json.Unmarshal([]byte(recordedJSON), &recorded) != nil {
		return nil
	}
	var out []string
	for db, tables := range recorded {
		for t, sum := range tables {
			if got[db][t] != sum {
				out = append(out, db+"."+t)
			}
		}
	}
	sort.Strings(out)
	return out
}
