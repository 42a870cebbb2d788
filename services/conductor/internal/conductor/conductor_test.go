package conductor

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/testenv"
)

const wrapKey = "test-inst-rpc-key-encr-key-0123456789"

type env struct {
	db    *catalog.DB
	tr    *rpc.Transport
	c     *Conductor
	srv   *rpc.Server
	topic string
	logs  *testenv.Buffer // everything the conductor and its RPC server logged (JSON lines), also copied to stderr
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := catalog.Open(testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	logger := logrus.New()
	logger.Out, logger.Formatter = io.MultiWriter(os.Stderr, logs), &logrus.JSONFormatter{}
	log := logger.WithField("test", t.Name())
	exchange := testenv.UniqueName(t, "trove-test")
	tr, err := rpc.Dial(ctx, rpctest.Config(testenv.TransportURL(t), exchange), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	c := &Conductor{Catalog: db, WrapKey: wrapKey, Log: log}
	topic := testenv.UniqueName(t, "trove-conductor")
	// One handler at a time: a later message is dispatched only after the earlier one finished (see probe).
	srv := tr.NewServer(rpc.ServerConfig{Topic: topic, Server: "test", Version: conductorapi.Version, Codec: c.Codec(), Concurrency: 1})
	c.Register(srv)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return &env{db: db, tr: tr, c: c, srv: srv, topic: topic, logs: logs}
}

// instance creates an instance row; key "" makes a legacy plaintext instance, envelope "" keeps Trove's.
func (e *env) instance(t *testing.T, key, envelope string) string {
	t.Helper()
	in := catalog.Instance{Name: "db", TenantID: "tenant", FlavorID: "1", VolumeSize: 1}
	if key != "" {
		w, err := keyring.Wrap(wrapKey, key)
		if err != nil {
			t.Fatal(err)
		}
		in.EncryptedKey = w
	}
	rows, err := e.db.CreateInstance(context.Background(), catalog.CreateInstanceParams{Instances: []catalog.Instance{in}})
	if err != nil {
		t.Fatal(err)
	}
	id := rows[0].ID
	if envelope != "" {
		if err := e.db.SetRPCPeer(context.Background(), catalog.RPCPeer{InstanceID: id, Envelope: envelope}); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// sender returns a conductor client as the guest of `as` would build it.
func (e *env) sender(as, key string, envelope rpc.Envelope) *rpc.Client {
	return e.tr.Client(rpc.Target{Topic: e.topic, Version: conductorapi.Version}, rpc.ConductorGuestCodec(as, key, envelope))
}

func heartbeat(t *testing.T, c *rpc.Client, id, st string, sent time.Time) {
	t.Helper()
	a := conductorapi.HeartbeatArgs{InstanceID: id, Payload: conductorapi.HeartbeatPayload{ServiceStatus: st}, Sent: conductorapi.Sent(sent)}
	if err := c.Cast(context.Background(), rpc.Context{RequestID: "req-test"}, conductorapi.MethodHeartbeat, a); err != nil {
		t.Fatal(err)
	}
}

// settle polls cond (the effect of asynchronous casts) for up to 10 s.
func (e *env) settle(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 400; i++ {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("condition not reached within 10s")
}

func (e *env) status(t *testing.T, id string) status.ServiceStatus {
	t.Helper()
	r, err := e.db.GetServiceStatus(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status()
}

func rejects(reason string) uint64 { return rpc.RejectCounts()[reason] }

// Instance keys of threePeers: keyA for Trove's envelope, keyB for AEAD.
const keyA, keyB = "Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa", "abcdefghijklmnopqrstuvwxyz012345"

// threePeers creates a legacy (plaintext) instance, a keyed one made by Python Trove (Trove's envelope, keyA)
// and one recorded aead (keyB).
func (e *env) threePeers(t *testing.T) (plain, trove, aead string) {
	t.Helper()
	return e.instance(t, "", ""), e.instance(t, keyA, ""), e.instance(t, keyB, catalog.EnvelopeAEAD)
}

func TestHeartbeats(t *testing.T) {
	e := setup(t)
	t0 := time.Now()
	plain, trove, aead := e.threePeers(t)

	cases := []struct {
		name      string
		client    *rpc.Client
		about     string
		status    string
		sent      time.Time
		want      status.ServiceStatus // status of `about` afterwards
		rejectKey string               // rpc reject reason expected ("" = handled)
	}{
		{"plaintext legacy instance", e.sender(plain, "", rpc.EnvelopeNone), plain, "healthy", t0, status.Healthy, ""},
		{"older sent is dropped", e.sender(plain, "", rpc.EnvelopeNone), plain, "shutdown", t0.Add(-time.Second), status.Healthy, ""},
		{"equal sent is dropped", e.sender(plain, "", rpc.EnvelopeNone), plain, "shutdown", t0, status.Healthy, ""},
		{"newer sent applies", e.sender(plain, "", rpc.EnvelopeNone), plain, "running", t0.Add(time.Second), status.Running, ""},
		{"trove envelope", e.sender(trove, keyA, rpc.EnvelopeTrove), trove, "healthy", t0, status.Healthy, ""},
		{"keyed instance plaintext rejected", e.sender(trove, "", rpc.EnvelopeNone), trove, "shutdown", t0.Add(time.Second), status.Healthy, rpc.RejectPlaintext},
		{"aead envelope", e.sender(aead, keyB, rpc.EnvelopeAEAD), aead, "running", t0, status.Running, ""},
		{"aead instance using trove envelope rejected", e.sender(aead, keyB, rpc.EnvelopeTrove), aead, "shutdown", t0.Add(time.Second), status.Running, rpc.RejectFormat},
		{"spoofed instance_id rejected", e.sender(trove, keyA, rpc.EnvelopeTrove), plain, "crashed", t0.Add(5 * time.Second), status.Running, rpc.RejectIdentity},
		{"wrong key rejected", e.sender(trove, keyB, rpc.EnvelopeTrove), trove, "shutdown", t0.Add(2 * time.Second), status.Healthy, rpc.RejectDecrypt},
	}
	// The probe instance's heartbeats mark progress: the server handles one message at a time, so once a probe
	// sent after the case's message is applied, the case's message has been fully processed.
	probe := e.instance(t, "", "")
	probeClient := e.sender(probe, "", rpc.EnvelopeNone)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rejected := rejects(c.rejectKey)
			heartbeat(t, c.client, c.about, c.status, c.sent)
			mark := []status.ServiceStatus{status.Running, status.Shutdown}[i%2]
			heartbeat(t, probeClient, probe, mark.Description, t0.Add(time.Duration(i+1)*time.Second))
			e.settle(t, func() bool { return e.status(t, probe) == mark })
			if c.rejectKey != "" && rejects(c.rejectKey) <= rejected {
				t.Fatalf("no %s rejection counted", c.rejectKey)
			}
			if got := e.status(t, c.about); got != c.want {
				t.Fatalf("status of %s = %q, want %q", c.about, got.Description, c.want.Description)
			}
		})
	}
}

func TestReportRootAndFault(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	id := e.instance(t, "", "")
	c := e.sender(id, "", rpc.EnvelopeNone)
	rc := rpc.Context{RequestID: "req-test", UserID: "u1"}
	handled := e.srv.Handled()
	if err := c.Cast(ctx, rc, conductorapi.MethodReportRoot, conductorapi.ReportRootArgs{InstanceID: id}); err != nil {
		t.Fatal(err)
	}
	exc := conductorapi.NotifyExcInfoArgs{
		SerializedNotification: map[string]any{"notification_classname": "trove.common.notification.DBaaSInstanceCreate", "instance_id": id},
		Message:                "prepare failed", Exception: []string{"Traceback\n", "boom\n"},
	}
	if err := c.Cast(ctx, rc, conductorapi.MethodNotifyExcInfo, exc); err != nil {
		t.Fatal(err)
	}
	e.settle(t, func() bool { return e.srv.Handled() >= handled+2 })
	// Handled counts dispatch; wait for the rows themselves.
	e.settle(t, func() bool {
		on, _ := e.db.RootEnabled(ctx, id)
		f, _ := e.db.GetFault(ctx, id)
		return on && f.Message != ""
	})
	f, err := e.db.GetFault(ctx, id)
	if err != nil || f.Message != "prepare failed" || f.Details != "Traceback\nboom\n" {
		t.Fatalf("fault %+v %v", f, err)
	}
}

// The handlers themselves refuse what the codec should already have refused (defence in depth) and count it.
func TestHandlersAuthorizeSender(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	plain := e.instance(t, "", "")
	keyed := e.instance(t, "Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa", "")
	hb := func(id string) conductorapi.HeartbeatArgs {
		return conductorapi.HeartbeatArgs{InstanceID: id, Payload: conductorapi.HeartbeatPayload{ServiceStatus: "crashed"}}
	}
	cases := []struct {
		name                   string
		sender, about          string
		wantErr                bool
		wantSpoofed, wantPlain uint64
	}{
		{"authenticated sender about itself", keyed, keyed, false, 0, 0},
		{"authenticated sender about another", keyed, plain, true, 1, 0},
		{"plaintext about a legacy instance", "", plain, false, 1, 0},
		{"plaintext about a keyed instance", "", keyed, true, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.status(t, c.about)
			_, err := e.c.heartbeat(ctx, rpc.Context{SenderInstanceID: c.sender}, hb(c.about))
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want error %v", err, c.wantErr)
			}
			if spoofed, plaintext := e.c.Counts(); spoofed != c.wantSpoofed || plaintext != c.wantPlain {
				t.Fatalf("counts %d/%d, want %d/%d", spoofed, plaintext, c.wantSpoofed, c.wantPlain)
			}
			if after := e.status(t, c.about); c.wantErr && after != before {
				t.Fatalf("refused heartbeat changed the status to %q", after.Description)
			} else if !c.wantErr && after != status.Crashed {
				t.Fatalf("accepted heartbeat left status %q", after.Description)
			}
		})
	}
}

// Counts reports messages refused by the handlers: instance_id not the authenticated sender, and plaintext
// naming a keyed instance.
func (c *Conductor) Counts() (spoofed, plaintext uint64) { return c.spoofed.Load(), c.plaintext.Load() }
