package taskapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/pkg/testenv"
)

// The client's casts reach a taskmanager server through the real broker, with and without secure RPC.
func TestClientCasts(t *testing.T) {
	ctx := context.Background()
	tr, err := rpc.Dial(ctx, rpctest.Config(testenv.TransportURL(t), testenv.UniqueName(t, "trove-test")), logrus.NewEntry(logrus.New()))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	const key = "bzH6y0SGmjuoY0FNSTptrhgieGXNDX6PIhvz"
	for _, c := range []struct {
		name        string
		send, serve rpc.Codec
	}{
		{"plain", rpc.PlainCodec(), rpc.PlainCodec()},
		{"secure", rpc.TroveCodec(key), rpc.TroveCodec(key)},
	} {
		t.Run(c.name, func(t *testing.T) {
			topic := testenv.UniqueName(t, "taskmanager")
			got := make(chan any, 4)
			srv := tr.NewServer(rpc.ServerConfig{Topic: topic, Server: "h", Version: taskapi.Version, Codec: c.serve})
			rpc.Register(srv, taskapi.MethodCreateInstance, func(_ context.Context, rc rpc.Context, a taskapi.CreateInstanceArgs) (rpc.Void, error) {
				got <- a
				return rpc.Void{}, nil
			})
			rpc.Register(srv, taskapi.MethodResizeVolume, func(_ context.Context, rc rpc.Context, a taskapi.ResizeVolumeArgs) (rpc.Void, error) {
				got <- a
				return rpc.Void{}, nil
			})
			if err := srv.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer srv.Stop(ctx) //nolint:errcheck
			cl := taskapi.NewClient(tr.Client(taskapi.Target(topic), c.send))
			rc := rpc.Context{RequestID: "req-1", ProjectID: "p"}
			size := 2
			create := taskapi.CreateInstanceArgs{InstanceID: "i-1", Name: "db", Flavor: taskapi.Flavor{ID: "1", RAM: 512},
				ImageID: "img", DatastoreManager: "mariadb", VolumeSize: &size, Databases: []taskapi.Database{{Name: "app"}}}
			if err := cl.CreateInstance(ctx, rc, create); err != nil {
				t.Fatal(err)
			}
			if err := cl.ResizeVolume(ctx, rc, taskapi.ResizeVolumeArgs{InstanceID: "i-1", NewSize: 3}); err != nil {
				t.Fatal(err)
			}
			// Invalid args never leave the client.
			if err := cl.DeleteInstance(ctx, rc, taskapi.DeleteInstanceArgs{}); err == nil {
				t.Fatal("invalid delete was sent")
			}
			for i := 0; i < 2; i++ {
				select {
				case v := <-got:
					switch a := v.(type) {
					case taskapi.CreateInstanceArgs:
						if a.InstanceID != "i-1" || *a.VolumeSize != 2 || a.Flavor.RAM != 512 || a.Databases[0].Name != "app" {
							t.Fatalf("create args %+v", a)
						}
					case taskapi.ResizeVolumeArgs:
						if a.NewSize != 3 {
							t.Fatalf("resize args %+v", a)
						}
					}
				case <-time.After(10 * time.Second):
					t.Fatal("cast not received")
				}
			}
		})
	}
}
