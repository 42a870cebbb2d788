package agent

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// Point-in-time recovery, the agent's part: every PITR.Interval the datastore's finished transaction-log
// files (PostgreSQL's archived WAL) are shipped to the configured backup store — gzip-compressed and, with
// [backup_encryption] key set, encrypted like backups — as wal-<instance id>-<file>.gz beside the backups. A
// restore with backup_info.restore_time fetches the source instance's shipped files from beside its backup.
// Only stores that need no user token (directory, s3) are shipped to: the loop has no user's credentials.

// PITRConfig turns WAL shipping on (Interval > 0) for this instance. Shipped files archived more than
// Retention ago are deleted from the store (0: kept).
type PITRConfig struct {
	InstanceID string
	Interval   time.Duration
	Retention  time.Duration
}

// walShipState is <state>/wal_ship.json: where the shipped files live and the recoverable window's end.
type walShipState struct {
	Base      string    `json:"base"`       // the store location of the shipped files, up to the last '/'
	Last      string    `json:"last"`       // the last log file shipped
	LastTime  time.Time `json:"last_time"`  // when it was archived: the recoverable window ends here
	FirstTime time.Time `json:"first_time"` // when the oldest file still in the store was archived
	// Shipped are the log files in the store, oldest first (history files not included: they are kept), for
	// the retention to delete. Files shipped before the list existed are not in it and stay.
	Shipped []shippedLog `json:"shipped,omitempty"`
}

type shippedLog struct {
	Name string    `json:"name"`
	Time time.Time `json:"time"`
}

const walShipStateFile = "wal_ship.json"

// walObjectName is a shipped log file's object: wal-<instance id>-<file>.gz.
func walObjectName(instance, file string) string { return "wal-" + instance + "-" + file + ".gz" }

// locationBase is location up to its last '/': another object of the same store and container is base+name.
func locationBase(location string) string { return location[:strings.LastIndex(location, "/")+1] }

func (a *Agent) walShipState() walShipState {
	var st walShipState
	if b, err := os.ReadFile(a.path(walShipStateFile)); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

// RecoveryWindow is get_recovery_window's answer.
func (a *Agent) RecoveryWindow() guestapi.RecoveryWindow {
	st := a.walShipState()
	w := guestapi.RecoveryWindow{Shipping: a.d.PITR.Interval > 0, LastFile: st.Last}
	if !st.FirstTime.IsZero() {
		first, last := st.FirstTime.UTC(), st.LastTime.UTC()
		w.FirstShipped, w.LastShipped = &first, &last
	}
	return w
}

var errNoArchiver = errors.New("this datastore has no transaction-log archive")

// ShipLogs ships the finished log files not yet in the store, oldest first, and returns how many it shipped.
// An object already in the store is skipped (shipping is idempotent); a file leaves the local archive only
// once shipped.
func (a *Agent) ShipLogs(ctx context.Context) (int, error) {
	if a.d.PITR.Interval <= 0 || a.d.Storage == nil {
		return 0, errors.New("WAL shipping is not configured")
	}
	if a.d.BackupKeysErr != nil {
		return 0, a.d.BackupKeysErr
	}
	var la datastore.LogArchiver
	var logs []datastore.LogFile
	err := a.Shared(func(m datastore.Manager) error {
		var ok bool
		if la, ok = m.(datastore.LogArchiver); !ok {
			return errNoArchiver
		}
		if err := la.LogsShipped(""); err != nil {
			return err
		}
		var err error
		logs, err = la.ArchivedLogs()
		return err
	})
	if err != nil || len(logs) == 0 {
		return 0, err
	}
	store, err := a.d.Storage("", "", backupstore.Credentials{})
	if err != nil {
		return 0, err
	}
	st := a.walShipState()
	n := 0
	for _, f := range logs {
		name := walObjectName(a.d.PITR.InstanceID, f.Name)
		there := false
		if st.Base != "" {
			rc, err := store.Open(ctx, st.Base+name)
			if err != nil && !errors.Is(err, backupstore.ErrNoObject) {
				return n, err
			}
			if there = err == nil; there {
				rc.Close()
			}
		}
		if !there {
			obj, err := a.shipFile(ctx, store, name, f.Path)
			if err != nil {
				return n, err
			}
			st.Base = locationBase(obj.Location)
			n++
		}
		if strings.HasSuffix(f.Name, ".history") {
			continue
		}
		if st.FirstTime.IsZero() {
			st.FirstTime = f.Time
		}
		st.Last, st.LastTime = f.Name, f.Time
		st.Shipped = append(st.Shipped, shippedLog{Name: f.Name, Time: f.Time})
		if err := a.saveWALShipState(st); err != nil {
			return n, err
		}
		if err := la.LogsShipped(f.Name); err != nil {
			return n, err
		}
	}
	if n > 0 {
		a.d.Log.WithField("files", n).WithField("last", st.Last).WithField("window_end", st.LastTime.UTC().Format(time.RFC3339)).Info("transaction log shipped")
	}
	return n, a.pruneShipped(ctx, store, st)
}

func (a *Agent) saveWALShipState(st walShipState) error {
	b, _ := json.Marshal(st)
	return datastore.WriteFileAtomic(a.path(walShipStateFile), b, 0o600)
}

// pruneShipped deletes the shipped files archived more than PITR.Retention ago from the store, oldest first,
// and moves the recoverable window's start to the oldest file kept. The newest file is always kept (the window
// must not become empty while nothing is written).
func (a *Agent) pruneShipped(ctx context.Context, store backupstore.Store, st walShipState) error {
	if a.d.PITR.Retention <= 0 || st.Base == "" {
		return nil
	}
	cutoff := time.Now().Add(-a.d.PITR.Retention)
	deleted := 0
	for len(st.Shipped) > 1 && st.Shipped[0].Time.Before(cutoff) {
		if err := store.Delete(ctx, st.Base+walObjectName(a.d.PITR.InstanceID, st.Shipped[0].Name)); err != nil {
			return err
		}
		st.Shipped = st.Shipped[1:]
		st.FirstTime = st.Shipped[0].Time
		deleted++
		if deleted%100 == 0 { // a long backlog: progress survives a restart
			if err := a.saveWALShipState(st); err != nil {
				return err
			}
		}
	}
	if deleted == 0 {
		return nil
	}
	a.d.Log.WithField("files", deleted).WithField("window_start", st.FirstTime.UTC().Format(time.RFC3339)).Info("shipped transaction log past the retention deleted from the store")
	return a.saveWALShipState(st)
}

// shipFile stores the file at path as name, gzip-compressed and sealed like a backup.
func (a *Agent) shipFile(ctx context.Context, store backupstore.Store, name, path string) (backupstore.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return backupstore.Object{}, err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	go func() {
		_ = pw.CloseWithError(sealed(pw, a.d.BackupKeys, func(w io.Writer) error {
			gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
			if _, err := io.Copy(gz, f); err != nil {
				return err
			}
			return gz.Close()
		}))
	}()
	obj, err := store.Put(ctx, name, pr)
	_ = pr.CloseWithError(errors.New("the store stopped reading"))
	return obj, err
}

// ShipWAL ships the transaction log every PITR.Interval until ctx ends (nothing when shipping is off). A
// failure is logged once until shipping works again.
func (a *Agent) ShipWAL(ctx context.Context) {
	if a.d.PITR.Interval <= 0 {
		return
	}
	t := time.NewTicker(a.d.PITR.Interval)
	defer t.Stop()
	failing := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !a.Prepared() {
			continue
		}
		_, err := a.ShipLogs(ctx)
		switch {
		case err == nil || errors.Is(err, errNoArchiver) && failing == "":
			failing = ""
		case err.Error() != failing:
			failing = err.Error()
			a.d.Log.WithError(err).Warn("shipping the transaction log failed: retried every interval")
		}
	}
}

var instanceIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// pointInTime is the restore of info to its restore_time: the datastore's RestoreToTime fetching the source
// instance's shipped log from beside the backup's full object.
func (a *Agent) pointInTime(info guestapi.RestoreInfo, store backupstore.Store) (func(context.Context, []datastore.BackupRef, datastore.BackupOpener) error, error) {
	target, err := time.Parse(time.RFC3339, info.RestoreTime)
	if err != nil {
		return nil, datastore.Errorf(datastore.KindBadRequest, "backup_info restore_time %q is not an RFC 3339 time", info.RestoreTime)
	}
	la, ok := a.mgr.(datastore.LogArchiver)
	if !ok {
		return nil, datastore.Errorf(datastore.KindBadRequest, "point-in-time restore is not supported for this datastore")
	}
	if !instanceIDRe.MatchString(info.InstanceID) {
		return nil, datastore.Errorf(datastore.KindBadRequest, "backup_info names no source instance (instance_id %q): its shipped log cannot be found", info.InstanceID)
	}
	base := locationBase(info.Chain[0].Location)
	fetch := func(ctx context.Context, dir string, extra []string, first string, next func(string) string) (int, error) {
		for _, name := range extra {
			if _, err := a.fetchLog(ctx, store, base, info.InstanceID, name, dir); err != nil {
				return 0, err
			}
		}
		n := 0
		for name := first; ; name = next(name) {
			ok, err := a.fetchLog(ctx, store, base, info.InstanceID, name, dir)
			if err != nil || !ok {
				a.d.Log.WithField("source", info.InstanceID).WithField("files", n).Info("shipped transaction log fetched")
				return n, err
			}
			n++
		}
	}
	return func(ctx context.Context, chain []datastore.BackupRef, open datastore.BackupOpener) error {
		return la.RestoreToTime(ctx, chain, open, target, fetch)
	}, nil
}

// fetchLog copies the shipped file name of instance into dir (decrypted, gunzipped); false when the store does
// not have it (a store that cannot answer is a fault, never the end of the log).
func (a *Agent) fetchLog(ctx context.Context, store backupstore.Store, base, instance, name, dir string) (bool, error) {
	rc, err := store.Open(ctx, base+walObjectName(instance, name))
	if errors.Is(err, backupstore.ErrNoObject) {
		return false, nil
	}
	if err != nil {
		return false, datastore.Errorf(datastore.KindBackupIntegrity, "shipped WAL %s of instance %s cannot be read: %v", name, instance, err)
	}
	v := &verifying{src: rc, h: md5.New(), id: "WAL " + name}
	plain, err := a.decrypted(v)
	if err != nil {
		rc.Close()
		return false, err
	}
	gz, err := gzip.NewReader(plain)
	if err != nil {
		rc.Close()
		return false, v.fail(err)
	}
	g := &gunzipped{gz: gz, rest: plain, v: v, failed: func(error) {}}
	defer g.Close()
	tmp := filepath.Join(dir, "."+name+".partial")
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(out, g)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return false, err
	}
	return true, nil
}
