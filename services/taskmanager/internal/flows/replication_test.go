package flows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// Replication casts end cleanly when they cannot be done: a replica whose source has no guest fails with 84
// and a fault before any server is made; a promote whose guests do not answer and an eject (not built yet) put
// the set's tasks back to NONE with a fault; a detach whose guest does not answer records a fault, keeps slave_of_id and ends the task; a restart
// finds no task left behind.
func TestReplicationCastsEndCleanly(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.m.Config.AgentCallHigh = time.Second // no guest answers here
	ctx := context.Background()
	const key = "bzH6y0SGmjuoY0FNSTptrhgieGXNDX6PIhvz"
	topic := "taskmanager-" + e.exchange
	srv := e.tr.NewServer(rpc.ServerConfig{Topic: topic, Server: "0.0.0.0", Version: taskapi.Version, Codec: rpc.TroveCodec(key)})
	e.m.Register(srv)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(ctx) //nolint:errcheck
	api := taskapi.NewClient(e.tr.Client(taskapi.Target(topic), rpc.TroveCodec(key)))

	src := e.instance("src", "")
	rep := e.instance("rep", "")
	srcID := src.ID
	if err := e.db.UpdateInstance(ctx, rep.ID, catalog.InstanceUpdate{SlaveOfID: &srcID}); err != nil {
		t.Fatal(err)
	}
	a := createArgs(rep, "mariadb-local")
	a.SlaveOfID = &srcID
	if err := api.CreateInstance(ctx, rc, a); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica build failed with 84", func() bool { return e.get(rep.ID).Task() == status.TaskBuildingErrorReplica })
	if f := e.fault(rep.ID); !strings.Contains(f, "Error creating the replication snapshot of the source.") {
		t.Fatalf("replica fault %q", f)
	}
	if got := e.get(rep.ID); got.ComputeInstanceID != "" || got.VolumeID != "" {
		t.Fatalf("a refused replica build made server %q volume %q", got.ComputeInstanceID, got.VolumeID)
	}
	for _, id := range []string{src.ID, rep.ID} {
		if err := e.db.SetTask(ctx, id, status.TaskPromoting); err != nil {
			t.Fatal(err)
		}
	}
	if err := api.PromoteToReplicaSource(ctx, rc, taskapi.ReplicationArgs{InstanceID: rep.ID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "promote tasks back to NONE", func() bool {
		return e.get(src.ID).Task() == status.TaskNone && e.get(rep.ID).Task() == status.TaskNone
	})
	if f := e.fault(rep.ID); !strings.Contains(f, "Promoting the replica failed") {
		t.Fatalf("promote fault %q", f)
	}
	for _, id := range []string{src.ID, rep.ID} {
		if err := e.db.SetTask(ctx, id, status.TaskEjecting); err != nil {
			t.Fatal(err)
		}
	}
	if err := api.EjectReplicaSource(ctx, rc, taskapi.ReplicationArgs{InstanceID: src.ID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "eject tasks back to NONE", func() bool {
		return e.get(src.ID).Task() == status.TaskNone && e.get(rep.ID).Task() == status.TaskNone
	})
	if err := e.db.SetTask(ctx, rep.ID, status.TaskDetaching); err != nil {
		t.Fatal(err)
	}
	if err := api.DetachReplica(ctx, rc, taskapi.ReplicationArgs{InstanceID: rep.ID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "detach task back to NONE", func() bool { return e.get(rep.ID).Task() == status.TaskNone })
	if f := e.fault(rep.ID); !strings.Contains(f, "Detaching the replica from its source failed") {
		t.Fatalf("detach fault %q", f)
	}
	if got := e.get(rep.ID); got.SlaveOfID != src.ID {
		t.Fatalf("the refused detach changed slave_of_id to %q", got.SlaveOfID)
	}
	// A taskmanager restart finds a replication task left by a crash and ends it.
	if err := e.db.SetTask(ctx, src.ID, status.TaskPromoting); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "resumed promote back to NONE", func() bool { return e.get(src.ID).Task() == status.TaskNone })
}

func TestGTIDSeq(t *testing.T) {
	for in, want := range map[string]int64{"": -1, "0-1-42": 42, "0-1-42,1-2-7": 42, "1-2-7,0-3-100": 100, "junk": -1, "0-1-x": -1} {
		if got := gtidSeq(in); got != want {
			t.Errorf("gtidSeq(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestTxnRank(t *testing.T) {
	for in, want := range map[string]int64{"": -1, "0/0": 0, "0/3000060": 0x3000060, "16/B374D848": 0x16B374D848,
		"1/0": 1 << 32, "0-1-42,1-2-7": 42, "x/1": -1, "0/1/2": -1, "FFFFFFFF/0": -1} {
		if got := txnRank(in); got != want {
			t.Errorf("txnRank(%q) = %d, want %d", in, got, want)
		}
	}
	if txnRank("0/FFFFFFFF") >= txnRank("1/0") || txnRank("A/0") <= txnRank("9/FFFFFFFF") {
		t.Error("LSNs out of order")
	}
}
