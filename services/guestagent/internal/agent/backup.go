package agent

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"hash"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/trove-go/trove/pkg/backupcrypt"
	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// Storage opens the backup store a backup names: its storage driver ("" = the configured one), its container
// (Swift; "" = the configured one), with the caller's credentials (Swift: the user's token and storage URL). A
// directory store is the project's own directory (the local driver mounts only that one into the guest).
type Storage func(driver, container string, creds backupstore.Credentials) (backupstore.Store, error)

// backupRunning is <state>/backup.running: the id of the backup this guest is making, so one interrupted by an
// agent restart is reported FAILED instead of staying BUILDING.
const backupRunning = "backup.running"

// backupObjectName is a backup's object in its store: <id>.<format>.gz (e.g. <id>.xbstream.gz).
func backupObjectName(id, format string) string { return id + "." + format + ".gz" }

// CreateBackup streams the datastore's backup, gzip-compressed and — with [backup_encryption] key set —
// encrypted (pkg/backupcrypt), into the store: nothing of it is kept on disk. It runs beside SQL operations
// (Shared) and refuses while one is already running.
func (a *Agent) CreateBackup(ctx context.Context, info guestapi.BackupInfo, creds backupstore.Credentials) (backupstore.Object, error) {
	var obj backupstore.Object
	if a.d.Storage == nil {
		return obj, datastore.Errorf(datastore.KindBackupCreation, "this guest has no backup storage configured")
	}
	if a.d.BackupKeysErr != nil {
		return obj, datastore.Errorf(datastore.KindBackupCreation, "backup encryption: %v", a.d.BackupKeysErr)
	}
	if a.exists(backupRunning) {
		if b, _ := os.ReadFile(a.path(backupRunning)); strings.TrimSpace(string(b)) != info.ID {
			return obj, datastore.Errorf(datastore.KindBackupCreation, "backup %s is already running on this instance", strings.TrimSpace(string(b)))
		}
	}
	if err := os.WriteFile(a.path(backupRunning), []byte(info.ID), 0o600); err != nil {
		return obj, err
	}
	defer func() { _ = a.remove(backupRunning) }()
	container := ""
	if info.SwiftContainer != nil {
		container = *info.SwiftContainer
	}
	store, err := a.d.Storage(info.StorageDriver, container, creds)
	if err != nil {
		return obj, datastore.Errorf(datastore.KindBackupCreation, "backup storage %s: %v", info.StorageDriver, err)
	}
	var parent *datastore.BackupRef
	if info.Parent != nil {
		parent = &datastore.BackupRef{ID: info.Parent.ID}
	}
	start := time.Now()
	err = a.Shared(func(m datastore.Manager) error {
		name := backupObjectName(info.ID, m.BackupFormat())
		pr, pw := io.Pipe()
		made := make(chan error, 1)
		go func() {
			err := sealed(pw, a.d.BackupKeys, func(w io.Writer) error {
				gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
				err := m.Backup(ctx, gz, info.ID, parent)
				if err == nil {
					err = gz.Close()
				}
				return err
			})
			_ = pw.CloseWithError(err)
			made <- err
		}()
		var perr error
		obj, perr = store.Put(ctx, name, pr)
		_ = pr.CloseWithError(errors.New("the store stopped reading")) // unblocks the backup when Put failed early
		berr := <-made
		if perr != nil {
			// either the store failed (the backup then only saw a closed pipe) or the backup did (Put's error
			// wraps it): Put's error names the cause
			return datastore.Errorf(datastore.KindBackupCreation, "%v", perr)
		}
		return berr
	})
	if err != nil {
		return obj, err
	}
	a.d.Log.WithField("backup_id", info.ID).WithField("bytes", obj.Size).WithField("seconds", time.Since(start).Seconds()).
		WithField("location", obj.Location).WithField("encrypted", a.d.BackupKeys.Enabled()).Info("backup stored")
	return obj, nil
}

// sealed runs write with w, or with an encrypting writer over w when keys has a current key. Either way w
// gets 64 KiB writes (gzip's small ones, each a hand-off through the pipe, halve the throughput).
func sealed(w io.Writer, keys backupcrypt.Keys, write func(io.Writer) error) error {
	if !keys.Enabled() {
		bw := bufio.NewWriterSize(w, 64<<10)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	enc, err := backupcrypt.NewWriter(w, keys)
	if err != nil {
		return err
	}
	if err := write(enc); err != nil {
		return err
	}
	return enc.Close()
}

// InterruptedBackup is the id of a backup an earlier run of this agent did not finish ("" when none); the
// record is removed.
func (a *Agent) InterruptedBackup() string {
	b, err := os.ReadFile(a.path(backupRunning))
	if err != nil {
		return ""
	}
	_ = a.remove(backupRunning)
	return strings.TrimSpace(string(b))
}

// restore rebuilds the data directory from prepare's backup_info before the server's first start: each backup
// of the chain is read from the store, decrypted when it starts with backupcrypt's header (each chunk
// authenticated before the datastore sees its bytes; a backup made before encryption has none), gunzipped, and
// at its end its MD5 checked against the catalog's checksum. A replica's seed (prepare with Trove's snapshot)
// is restored by the datastore's RestoreReplicaSeed when it has one.
func (a *Agent) restore(ctx context.Context, raw map[string]any, creds backupstore.Credentials, seed bool) error {
	info, err := guestapi.ParseRestoreInfo(raw)
	if err != nil {
		return datastore.Errorf(datastore.KindBackupIntegrity, "%v", err)
	}
	if a.d.Storage == nil {
		return datastore.Errorf(datastore.KindBackupIntegrity, "this guest has no backup storage configured")
	}
	store, err := a.d.Storage(info.StorageDriver, "", creds)
	if err != nil {
		return datastore.Errorf(datastore.KindBackupIntegrity, "backup storage %s: %v", info.StorageDriver, err)
	}
	chain := make([]datastore.BackupRef, len(info.Chain))
	for i, l := range info.Chain {
		chain[i] = datastore.BackupRef{ID: l.ID}
	}
	// The first integrity failure of a stream: a datastore tool fed by a stream that failed reports only its
	// own broken input, so this error, which names the cause, is returned instead.
	var streamErr error
	var streamMu sync.Mutex
	failed := func(err error) {
		streamMu.Lock()
		if streamErr == nil {
			streamErr = err
		}
		streamMu.Unlock()
	}
	open := func(ctx context.Context, i int) (io.ReadCloser, error) {
		l := info.Chain[i]
		rc, err := store.Open(ctx, l.Location)
		if err != nil {
			return nil, datastore.Errorf(datastore.KindBackupIntegrity, "backup %s at %s cannot be read: %v", l.ID, l.Location, err)
		}
		v := &verifying{src: rc, h: md5.New(), id: l.ID, want: l.Checksum}
		plain, err := a.decrypted(v)
		if err != nil {
			rc.Close()
			return nil, err
		}
		gz, err := gzip.NewReader(plain)
		if err != nil {
			rc.Close()
			if isKind(err, datastore.KindBackupIntegrity) {
				return nil, err
			}
			return nil, v.fail(fmt.Errorf("not a gzip stream: %w", err))
		}
		return &gunzipped{gz: gz, rest: plain, v: v, failed: failed}, nil
	}
	start := time.Now()
	restore := a.mgr.Restore
	if sr, ok := a.mgr.(datastore.SeedRestorer); ok && seed {
		restore = sr.RestoreReplicaSeed
	}
	if info.RestoreTime != "" && !seed {
		if restore, err = a.pointInTime(info, store); err != nil { // pitr.go
			return err
		}
	}
	if err := restore(ctx, chain, open); err != nil {
		streamMu.Lock()
		defer streamMu.Unlock()
		if streamErr != nil {
			return streamErr
		}
		return err
	}
	a.d.Log.WithField("backup_id", info.ID).WithField("chain", len(chain)).WithField("seconds", time.Since(start).Seconds()).
		Info("restored from backup")
	return nil
}

// decrypted is v's plaintext: v itself for a backup made without encryption, else a backupcrypt.Reader whose
// failures (a changed or truncated object, a key no longer configured) are integrity faults naming the backup.
func (a *Agent) decrypted(v *verifying) (io.Reader, error) {
	br := bufio.NewReaderSize(v, 4096)
	head, _ := br.Peek(len(backupcrypt.Magic))
	if !backupcrypt.Encrypted(head) {
		return br, nil
	}
	if a.d.BackupKeysErr != nil {
		return nil, v.fail(fmt.Errorf("it is encrypted and [backup_encryption] is not usable: %w", a.d.BackupKeysErr))
	}
	d, err := backupcrypt.NewReader(br, a.d.BackupKeys)
	if errors.Is(err, backupcrypt.ErrUnknownKey) {
		return nil, datastore.Errorf(datastore.KindBackupIntegrity, "backup %s cannot be decrypted: %v", v.id, err)
	}
	if err != nil {
		return nil, v.fail(err)
	}
	return &integrity{r: d, v: v}, nil
}

// integrity turns a reader's failures into integrity faults of the backup.
type integrity struct {
	r io.Reader
	v *verifying
}

func (i *integrity) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if err != nil && err != io.EOF && !isKind(err, datastore.KindBackupIntegrity) {
		err = i.v.fail(err)
	}
	return n, err
}

// verifying hashes what it reads and, at the end of the object, compares the MD5 with the recorded checksum.
type verifying struct {
	src  io.ReadCloser
	h    hash.Hash
	id   string
	want string
}

func (v *verifying) Read(p []byte) (int, error) {
	n, err := v.src.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); v.want != "" && !strings.EqualFold(got, v.want) {
			return n, datastore.Errorf(datastore.KindBackupIntegrity, "backup %s is corrupt: its checksum is %s, the catalog recorded %s", v.id, got, v.want)
		}
	}
	return n, err
}

func (v *verifying) fail(err error) error {
	return datastore.Errorf(datastore.KindBackupIntegrity, "backup %s is corrupt: %v", v.id, err)
}

// gunzipped is a backup's native stream: at the end of the gzip data the rest of the object is read too
// (rest: through the decryption, which checks the last chunk), so the checksum covers every byte.
type gunzipped struct {
	gz     *gzip.Reader
	rest   io.Reader
	v      *verifying
	failed func(error) // told of an integrity failure
}

func (g *gunzipped) Read(p []byte) (int, error) {
	n, err := g.gz.Read(p)
	if err == io.EOF {
		if _, derr := io.Copy(io.Discard, g.rest); derr != nil {
			err = derr
		}
	} else if err != nil && !isKind(err, datastore.KindBackupIntegrity) {
		err = g.v.fail(err)
	}
	if err != nil && err != io.EOF && isKind(err, datastore.KindBackupIntegrity) {
		g.failed(err)
	}
	return n, err
}

func (g *gunzipped) Close() error { return g.v.src.Close() }

func isKind(err error, kind string) bool { return datastore.KindOf(err) == kind }
