package agent

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/backupcrypt"
	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

const testTenant = "tenant-1"

// mariadbAgent is a prepared agent over a real MariaDB on addr with a directory store at root.
func mariadbAgent(t testing.TB, addr, storeRoot string, info map[string]any) (*Agent, error) {
	return mariadbAgentKeys(t, addr, storeRoot, info, backupcrypt.Keys{})
}

// mariadbAgentKeys is mariadbAgent with [backup_encryption] keys.
func mariadbAgentKeys(t testing.TB, addr, storeRoot string, info map[string]any, keys backupcrypt.Keys) (*Agent, error) {
	dir, err := os.MkdirTemp("", "ab")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	opts := datastore.Options{Manager: "mariadb", Layout: datastore.Layout{Root: dir}, BindHost: addr, Port: 3306, Volume: datastore.NewVolume(dir, 0),
		Log: logrus.NewEntry(logrus.StandardLogger()), IgnoreUsers: []string{"os_admin"}}
	return agentWith(t, opts, newMariaDB, storeRoot, info, keys, PITRConfig{})
}

func rootSQL(t testing.TB, addr, stmt string) string {
	t.Helper()
	out, err := exec.Command("mariadb", "-h", addr, "-u", "root", "-p"+rootPassword, "-N", "-B", "-e", stmt).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", stmt, err, out)
	}
	return strings.TrimSpace(string(out))
}

func restoreInfo(id string, obj backupstore.Object) map[string]any {
	return guestapi.RestoreInfo{ID: id, Location: obj.Location, Checksum: obj.MD5, Type: "full", StorageDriver: backupstore.DriverDirectory,
		Chain: []guestapi.RestoreLink{{ID: id, Location: obj.Location, Checksum: obj.MD5}}}.Map()
}

// The agent's backup pipeline end to end on a real MariaDB and a directory store: the backup is streamed
// gzip-compressed under the project's directory, restores into a new agent with the same rows, and a corrupted
// object is refused naming the checksum, with nothing started.
func TestBackupPipeline(t *testing.T) {
	store := t.TempDir()
	src, err := mariadbAgent(t, loopback(31), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	rootSQL(t, loopback(31), "CREATE DATABASE app; CREATE TABLE app.t (n INT); INSERT INTO app.t VALUES (1), (2), (3)")
	want := rootSQL(t, loopback(31), "SELECT COUNT(*), SUM(n) FROM app.t")
	id := "5f1f1d0e-0000-4000-8000-0000000000a1"
	obj, err := src.CreateBackup(context.Background(), guestapi.BackupInfo{ID: id, BackupType: guestapi.BackupFull,
		StorageDriver: backupstore.DriverDirectory}, backupstore.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(obj.Location)
	if u.Path != filepath.Join(store, testTenant, id+".xbstream.gz") || obj.Size <= 0 || len(obj.MD5) != 32 {
		t.Fatalf("object %+v", obj)
	}
	if src.exists(backupRunning) {
		t.Fatal("backup record left after the backup")
	}
	if _, err := mariadbAgent(t, loopback(32), store, restoreInfo(id, obj)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got := rootSQL(t, loopback(32), "SELECT COUNT(*), SUM(n) FROM app.t"); got != want {
		t.Fatalf("restored %q, backed up %q", got, want)
	}

	// One flipped byte: the restore fails naming the checksum.
	data, err := os.ReadFile(u.Path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x55
	if err := os.WriteFile(u.Path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = mariadbAgent(t, loopback(33), store, restoreInfo(id, obj))
	if err == nil || !strings.Contains(err.Error(), "checksum") && !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("restore of a corrupted object: %v", err)
	}
	if out, err := exec.Command("mariadb", "-h", loopback(33), "-u", "root", "-p"+rootPassword, "-e", "SELECT 1").CombinedOutput(); err == nil {
		t.Fatalf("a server answers after a refused restore: %s", out)
	}
}

// peakRSS samples this process's resident set every 20 ms until stop is closed and returns the largest (MB).
func peakRSS(stop <-chan struct{}) <-chan float64 {
	out := make(chan float64, 1)
	go func() {
		peak := 0.0
		for {
			if b, err := os.ReadFile("/proc/self/status"); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
						kb, _ := strconv.ParseFloat(f[1], 64)
						peak = max(peak, kb/1024)
					}
				}
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return out
}

// BenchmarkBackup measures the guest's backup and restore of a MariaDB dataset of TROVE_BENCH_BACKUP_MB
// (default 256) of incompressible rows through a directory store, without and with encryption in the same run
// (enc-*-overhead-%: throughput lost to encryption, negative = within noise; the target is ≤ 10), beside the store's raw speed for an
// object of the same size (Put of random bytes, read back), and the agent process's peak RSS while backing up
// (streaming: it does not grow with the dataset). backup-MB/s and restore-MB/s count dataset bytes.
//
//	TROVE_BENCH_BACKUP_MB=1024 go test ./internal/agent -run '^$' -bench BenchmarkBackup -benchtime 1x
func BenchmarkBackup(b *testing.B) {
	mb := 256
	if s := os.Getenv("TROVE_BENCH_BACKUP_MB"); s != "" {
		mb, _ = strconv.Atoi(s)
	}
	store := b.TempDir()
	src, err := mariadbAgent(b, loopback(41), store, nil)
	if err != nil {
		b.Fatal(err)
	}
	rootSQL(b, loopback(41), "CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v LONGBLOB)")
	chunk := 1 << 20
	// 1 KiB rows of random bytes, doubled until the table holds mb MiB
	rootSQL(b, loopback(41), "INSERT INTO app.t (v) VALUES (RANDOM_BYTES(1024)), (RANDOM_BYTES(1024))")
	for n := 2 * 1024; n < mb*chunk; n *= 2 {
		rootSQL(b, loopback(41), "INSERT INTO app.t (v) SELECT RANDOM_BYTES(1024) FROM app.t")
	}
	bytes := float64(mb * chunk)
	raw, err := backupstore.New(backupstore.Config{Driver: backupstore.DriverDirectory, Directory: backupstore.DirectoryConfig{Root: filepath.Join(store, "raw")}}, backupstore.Credentials{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// raw store speed: the same number of random bytes
		t0 := time.Now()
		obj, err := raw.Put(context.Background(), "raw-"+strconv.Itoa(i), io.LimitReader(rand.Reader, int64(mb*chunk)))
		if err != nil {
			b.Fatal(err)
		}
		rawPut := time.Since(t0)
		t0 = time.Now()
		rc, err := raw.Open(context.Background(), obj.Location)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, rc)
		rc.Close()
		rawGet := time.Since(t0)

		// the same dataset backed up without and with encryption, twice in turn (the first backup also warms
		// the page cache; each mode's faster run counts), and each mode's second backup restored
		var took [2]struct{ backup, restore time.Duration }
		var peakMB, objMB float64
		for round := range 2 {
			for enc := range 2 {
				keys := backupcrypt.Keys{}
				if enc == 1 {
					keys.Current = kekNew
				}
				src.d.BackupKeys = keys
				runtime.GC()
				stop := make(chan struct{})
				peak := peakRSS(stop)
				id := fmt.Sprintf("5f1f1d0e-0000-4000-8000-%012d", 4*i+2*round+enc+1)
				t0 = time.Now()
				bobj, err := src.CreateBackup(context.Background(), guestapi.BackupInfo{ID: id, BackupType: guestapi.BackupFull,
					StorageDriver: backupstore.DriverDirectory}, backupstore.Credentials{})
				d := time.Since(t0)
				close(stop)
				if err != nil {
					b.Fatal(err)
				}
				if round == 0 || d < took[enc].backup {
					took[enc].backup = d
				}
				peakMB = max(peakMB, <-peak)
				objMB = float64(bobj.Size) / 1e6
				if round == 1 {
					t0 = time.Now()
					if _, err := mariadbAgentKeys(b, loopback(42+2*i+enc), store, restoreInfo(id, bobj), keys); err != nil {
						b.Fatal(err)
					}
					took[enc].restore = time.Since(t0)
				}
			}
		}
		backup, restore := took[0].backup, took[0].restore
		b.ReportMetric(bytes/1e6/rawPut.Seconds(), "raw-put-MB/s")
		b.ReportMetric(bytes/1e6/rawGet.Seconds(), "raw-get-MB/s")
		b.ReportMetric(bytes/1e6/backup.Seconds(), "backup-MB/s")
		b.ReportMetric(bytes/1e6/restore.Seconds(), "restore-MB/s")
		b.ReportMetric(bytes/1e6/took[1].backup.Seconds(), "enc-backup-MB/s")
		b.ReportMetric(bytes/1e6/took[1].restore.Seconds(), "enc-restore-MB/s")
		// throughput lost to encryption: 1 − encrypted/plain MB/s
		b.ReportMetric(100*(1-backup.Seconds()/took[1].backup.Seconds()), "enc-backup-overhead-%")
		b.ReportMetric(100*(1-restore.Seconds()/took[1].restore.Seconds()), "enc-restore-overhead-%")
		b.ReportMetric(100*rawPut.Seconds()/backup.Seconds(), "backup-%-of-raw")
		b.ReportMetric(peakMB, "agent-peak-rss-MB")
		b.ReportMetric(objMB, "object-MB")
	}
}
