package guestapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/testenv"
)

// zedGuest starts testdata/zedguest.py (a real oslo.messaging server at Zed's guest version 1.1) for instance
// id; its queues are deleted after it stops.
func zedGuest(t *testing.T, tr *rpc.Transport, id, key string) {
	t.Helper()
	t.Cleanup(func() { _ = tr.DeleteQueues(context.Background(), rpc.ServerQueues(Topic(id), id)...) })
	testenv.PythonPeer(t, "testdata/zedguest.py", testenv.TransportURL(t), tr.Exchange(), id, key)
}

// dial connects to the test broker with a fresh control exchange.
func dial(t *testing.T) *rpc.Transport {
	t.Helper()
	tr, err := rpc.Dial(context.Background(), rpctest.Config(testenv.TransportURL(t), testenv.UniqueName(t, "trove-test")), logrus.NewEntry(logrus.New()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// tapGuest taps what is sent to instance id's guest (once a server declared the exchange).
func tapGuest(t *testing.T, tr *rpc.Transport, id string) *rpctest.Tap {
	t.Helper()
	tap, err := rpctest.NewTap(testenv.TransportURL(t), tr.Exchange(), Topic(id))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tap.Close() })
	return tap
}

// tapped is one request seen on the broker: method, version and argument names (sealed values stay sealed).
type tapped struct {
	method, version string
	args            []string
}

func next(t *testing.T, tap *rpctest.Tap) tapped {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := tap.Next(ctx)
	if err != nil {
		t.Fatalf("tap: %v", err)
	}
	var v string
	var args map[string]json.RawMessage
	_ = json.Unmarshal(m.Inner["version"], &v)
	_ = json.Unmarshal(m.Inner["args"], &args)
	out := tapped{method: m.Method(), version: v}
	for k := range args {
		out.args = append(out.args, k)
	}
	return out
}

func (m tapped) has(arg string) bool {
	for _, a := range m.args {
		if a == arg {
			return true
		}
	}
	return false
}

// TestVersionsToTroveGuest: what a Zed guest (endpoint 1.1) is sent, per method, on the wire, under caps given
// by release name and by number, plaintext and with Trove's envelope: prepare 1.1 with ds_version (1.0 without
// it below 1.1), list_databases / get_filesystem_stats / restart 1.0, resize_fs 1.1 with online (1.0 without);
// the guest answers every one. The old single version 1.3 is refused by it; our own method is refused before
// anything is sent.
func TestVersionsToTroveGuest(t *testing.T) {
	for _, key := range []string{"", "Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa"} {
		t.Run(fmt.Sprintf("key=%t", key != ""), func(t *testing.T) {
			ctx := context.Background()
			tr, id := dial(t), uuid.NewString()
			zedGuest(t, tr, id, key)
			tap := tapGuest(t, tr, id)
			codec := rpc.TroveCodec(key)
			rc := rpc.Context{RequestID: "req-versions"}
			raw := tr.Client(Target(id), codec)

			for _, tc := range []struct{ cap, v11 string }{
				{"latest", "1.1"}, {"zed", "1.1"}, {"1.1", "1.1"}, {"ussuri", "1.0"}, {"1.0", "1.0"},
			} {
				t.Run("cap="+tc.cap, func(t *testing.T) {
					c, err := ParseCap(tc.cap)
					if err != nil {
						t.Fatal(err)
					}
					g := New(tr.Client(Target(id), codec))
					g.Peer = Peer{InstanceID: id, Agent: AgentPython, Cap: c}
					ds, dev, mnt := "10.11", "/dev/vdb", "/var/lib/mysql"
					if err := g.Prepare(ctx, rc, PrepareArgs{Databases: []Schema{}, Users: []User{}, MemoryMB: 512, MountPoint: &mnt, DSVersion: &ds}); err != nil {
						t.Fatal(err)
					}
					page, err := g.ListDatabases(ctx, rc, ListArgs{})
					if err != nil || len(page.Items) != 1 || page.Items[0].Name != "app" {
						t.Fatalf("list_databases: %+v %v", page, err)
					}
					st, err := g.GetFilesystemStats(ctx, rc)
					if err != nil || st.Used != 0.5 || st.TotalBlocks != 262144 {
						t.Fatalf("get_filesystem_stats: %+v %v", st, err)
					}
					if err := g.Restart(ctx, rc); err != nil {
						t.Fatalf("restart: %v", err)
					}
					if err := g.ResizeFS(ctx, rc, ResizeFSArgs{DevicePath: &dev, MountPoint: &mnt, Online: true}); err != nil {
						t.Fatalf("resize_fs: %v", err)
					}
					newer := tc.v11 == "1.1" // the 1.1 forms carry prepare's ds_version and resize_fs's online
					for _, w := range []struct {
						method, version, arg string
						hasArg               bool
					}{
						{MethodPrepare, tc.v11, "ds_version", newer},
						{MethodListDatabases, "1.0", "include_marker", true},
						{MethodGetFilesystemStats, "1.0", "fs_path", true},
						{MethodRestart, "1.0", "", false},
						{MethodResizeFS, tc.v11, "online", newer},
					} {
						m := next(t, tap)
						if m.method != w.method || m.version != w.version || (w.arg != "" && m.has(w.arg) != w.hasArg) {
							t.Errorf("on the wire %+v; want %s at %s, argument %s: %t", m, w.method, w.version, w.arg, w.hasArg)
						}
					}
					// What the guest itself got (prepare is a cast: it has arrived once received answers after it).
					var recs []struct {
						Method string         `json:"method"`
						Args   map[string]any `json:"args"`
					}
					if err := raw.Call(ctx, rc, "received", nil, &recs, 10*time.Second); err != nil {
						t.Fatal(err)
					}
					next(t, tap) // received
					got := map[string]map[string]any{}
					for _, r := range recs[len(recs)-5:] {
						got[r.Method] = r.Args
					}
					var wantDS any
					if newer {
						wantDS = "10.11"
					}
					if got[MethodPrepare]["ds_version"] != wantDS {
						t.Errorf("prepare ds_version %v, want %v", got[MethodPrepare]["ds_version"], wantDS)
					}
					if got[MethodResizeFS]["online"] != newer {
						t.Errorf("resize_fs online %v, want %v", got[MethodResizeFS]["online"], newer)
					}
					if newer { // Zed's stop_db takes no argument: Trove's own 1.0 form would fail there too
						if err := g.StopDB(ctx, rc); err != nil {
							t.Fatalf("stop_db: %v", err)
						}
						if m := next(t, tap); m.method != MethodStopDB || m.version != "1.1" || len(m.args) != 0 {
							t.Errorf("stop_db on the wire %+v", m)
						}
					}
				})
			}

			// What every message used to carry: the Zed guest refuses it.
			old := tr.Client(rpc.Target{Topic: Topic(id), Version: "1.3"}, codec)
			err := old.Call(ctx, rc, MethodListDatabases, ListArgs{}, nil, 10*time.Second)
			if rpc.Kind(err) != "UnsupportedVersion" || !strings.Contains(err.Error(), "Endpoint does not support RPC version 1.3") {
				t.Fatalf("1.3 to a Zed guest: %v", err)
			}
			next(t, tap)

			// Our own method to Trove's agent fails at once, naming the method; nothing reaches the broker (the
			// next tapped message is the ping sent after it).
			g := New(tr.Client(Target(id), codec))
			g.Peer = Peer{InstanceID: id, Agent: AgentPython}
			start := time.Now()
			err = g.RotateRPCKey(ctx, rc, RotateRPCKeyArgs{NewKey: "abcdefghijklmnopqrstuvwxyz012345"})
			var ue *UnsupportedError
			if !errors.As(err, &ue) || ue.Method != MethodRotateRPCKey || time.Since(start) > time.Second {
				t.Fatalf("rotate_rpc_key to Trove's agent: %v after %s", err, time.Since(start))
			}
			if ok, err := g.RPCPing(ctx, rc); err != nil || !ok {
				t.Fatalf("rpc_ping: %v %v", ok, err)
			}
			if m := next(t, tap); m.method != MethodRPCPing || m.version != "1.0" {
				t.Fatalf("next on the wire %+v, want rpc_ping 1.0", m)
			}
		})
	}
}

// TestVersionsToGoGuest: our guest (endpoint Version) is sent each method's own version whatever the cap, and
// accepts every one of them, including our own method.
func TestVersionsToGoGuest(t *testing.T) {
	ctx := context.Background()
	tr, id := dial(t), uuid.NewString()
	srv := tr.NewServer(rpc.ServerConfig{Topic: Topic(id), Server: id, Version: Version})
	got := make(chan string, 8)
	rpc.Register(srv, MethodPrepare, func(_ context.Context, _ rpc.Context, a PrepareArgs) (rpc.Void, error) {
		got <- MethodPrepare + " " + *a.DSVersion
		return rpc.Void{}, nil
	})
	rpc.Register(srv, MethodRotateRPCKey, func(_ context.Context, _ rpc.Context, a RotateRPCKeyArgs) (rpc.Void, error) {
		return rpc.Void{}, nil
	})
	rpc.Register(srv, MethodStopDB, func(_ context.Context, _ rpc.Context, a StopDBArgs) (rpc.Void, error) {
		if a.DoNotStartOnReboot != nil {
			return rpc.Void{}, errors.New("stop_db sent in its 1.0 form")
		}
		return rpc.Void{}, nil
	})
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Stop(context.Background())
		_ = tr.DeleteQueues(context.Background(), rpc.ServerQueues(Topic(id), id)...)
	})
	tap := tapGuest(t, tr, id)
	ussuri, _ := ParseCap("ussuri")
	g := New(tr.Client(Target(id), rpc.PlainCodec()))
	g.Peer = Peer{InstanceID: id, Agent: AgentGo, Cap: ussuri}
	rc := rpc.Context{RequestID: "req-go-guest"}
	ds := "10.11"
	if err := g.Prepare(ctx, rc, PrepareArgs{Databases: []Schema{}, Users: []User{}, DSVersion: &ds}); err != nil {
		t.Fatal(err)
	}
	if err := g.StopDB(ctx, rc); err != nil {
		t.Fatal(err)
	}
	if err := g.RotateRPCKey(ctx, rc, RotateRPCKeyArgs{NewKey: "abcdefghijklmnopqrstuvwxyz012345"}); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "prepare 10.11" {
		t.Errorf("prepare arrived as %q", s)
	}
	for _, want := range []tapped{{method: MethodPrepare, version: "1.1"}, {method: MethodStopDB, version: "1.1"}, {method: MethodRotateRPCKey, version: "1.0"}} {
		if m := next(t, tap); m.method != want.method || m.version != want.version {
			t.Errorf("on the wire %+v, want %s at %s", m, want.method, want.version)
		}
	}
}
