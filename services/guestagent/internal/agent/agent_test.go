package agent

import (
	"context"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
	"github.com/trove-go/trove/services/guestagent/internal/mysql"
)

// recorder stands in for the conductor client (the real one is exercised by cmd/trove-guestagent's RPC test).
type recorder struct {
	mu   sync.Mutex
	sent []string
}

func (r *recorder) Heartbeat(_ context.Context, status string, _ *datastore.Health) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, status)
	return nil
}

func newAgent(t *testing.T) (*Agent, *recorder) {
	dir := t.TempDir()
	rec := &recorder{}
	layout := datastore.Layout{Root: dir}
	vol := datastore.NewVolume(dir, 1)
	log := logrus.NewEntry(logrus.StandardLogger())
	a, err := New(Deps{
		Layout: layout, Volume: vol, Conductor: rec, Period: 1, Version: "10.11", Log: log,
		NewManager: func() (datastore.Manager, error) {
			return mysql.New(datastore.Options{Manager: "mariadb", Layout: layout, BindHost: "127.0.0.1", Port: 3306, Volume: vol, Log: log})
		},
		VolumeSize: func() (float64, error) { return 3, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, rec
}

func TestUnpreparedGuestRefusesSQL(t *testing.T) {
	a, _ := newAgent(t)
	err := a.Shared(func(datastore.Manager) error { t.Fatal("ran before prepare"); return nil })
	if datastore.KindOf(err) != datastore.KindNotRunning {
		t.Fatalf("err = %v", err)
	}
	if err := a.Restart(context.Background()); datastore.KindOf(err) != datastore.KindNotRunning {
		t.Fatalf("restart before prepare: %v", err)
	}
	// nothing pending: Start waits for the prepare cast without touching the server
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A replication snapshot, and a backup_info that names no restorable chain, fail prepare (failed to spawn).
func TestPrepareRefusesRestore(t *testing.T) {
	a, rec := newAgent(t)
	for _, args := range []guestapi.PrepareArgs{
		{BackupInfo: map[string]any{"id": "b1"}},
		{Snapshot: map[string]any{"dataset": map[string]any{}}},
	} {
		if err := a.Prepare(context.Background(), args); err == nil {
			t.Fatal("restore prepare accepted")
		}
	}
	if a.Prepared() || len(rec.sent) < 2 || rec.sent[len(rec.sent)-1] != string(datastore.FailedToSpawn) {
		t.Fatalf("prepared=%v heartbeats=%v", a.Prepared(), rec.sent)
	}
}

func TestResizeAndVersion(t *testing.T) {
	a, _ := newAgent(t)
	if err := a.ResizeFS(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := a.VolumeStats(context.Background())
	if err != nil || st.Total != 3 {
		t.Fatalf("stats after resize %+v %v", st, err)
	}
	info, _ := a.PreUpgrade(context.Background())
	if info["datastore_version"] != "10.11" {
		t.Fatalf("pre_upgrade %v", info)
	}
}
