package guestbroker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/testenv"
)

type pingArgs struct {
	N int `json:"n"`
}

func (pingArgs) Validate() error { return nil }

func testAdmin(t *testing.T) *Admin {
	t.Helper()
	api, user, pass := testenv.RabbitManagement(t)
	a, err := NewAdmin(Config{ManagementURL: api, ManagementUser: user, ManagementPassword: pass, ManagementTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestGuestAccountOnTheBroker creates an instance's account on the real broker and proves what it can and cannot
// do: its Go guest server (passive control exchange) serves calls from the control plane and casts to the
// conductor topic; binding to the taskmanager's or another guest's topic, consuming or deleting another
// guest's queue, publishing to the taskmanager topic, (re)declaring or deleting the control exchange and
// declaring any other queue are refused with ACCESS_REFUSED. A new password replaces the old one; after Delete
// the account cannot log in.
func TestGuestAccountOnTheBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := testAdmin(t)
	base := testenv.TransportURL(t)
	exchange := testenv.UniqueName(t, "gb-exchange")
	conductor := testenv.UniqueName(t, "gb-conductor")
	taskmanager := testenv.UniqueName(t, "gb-taskmanager")
	a, b := uuid.NewString(), uuid.NewString()
	log := logrus.NewEntry(logrus.New())

	// The control plane: its account declares the exchange, pre-creates both guests' queues (as the
	// taskmanager does) and serves the conductor and taskmanager topics.
	cp, err := rpc.Dial(ctx, rpctest.Config(base, exchange), log)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	for _, id := range []string{a, b} {
		srv := cp.NewServer(rpc.ServerConfig{Topic: guestapi.Topic(id), Server: id, Version: "1.0", Codec: rpc.PlainCodec(), Concurrency: 1})
		if err := srv.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := srv.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cp.DeleteQueues(context.Background(), rpc.ServerQueues(guestapi.Topic(id), id)...) })
	}
	heartbeats := make(chan int, 10)
	for topic, ch := range map[string]chan int{conductor: heartbeats, taskmanager: nil} {
		srv := cp.NewServer(rpc.ServerConfig{Topic: topic, Server: "host", Version: "1.0", Codec: rpc.PlainCodec(), Concurrency: 1})
		rpc.Register(srv, "heartbeat", func(_ context.Context, _ rpc.Context, p pingArgs) (rpc.Void, error) {
			if ch != nil {
				ch <- p.N
			}
			return rpc.Void{}, nil
		})
		if err := srv.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = srv.Stop(context.Background())
			_ = cp.DeleteQueues(context.Background(), rpc.ServerQueues(topic, "host")...)
		})
	}

	user, pass := UserName(a), NewPassword()
	if err := admin.Put(ctx, user, pass, GrantFor(a, "/", exchange, conductor)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), user) })
	guestURL, err := WithAccount(base, user, pass)
	if err != nil {
		t.Fatal(err)
	}

	// A's Go guest on its own account: serves a call from the control plane, casts to the conductor.
	gcfg := rpctest.Config(guestURL, exchange)
	gcfg.PassiveControlExchange = true
	gt, err := rpc.Dial(ctx, gcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer gt.Close()
	gsrv := gt.NewServer(rpc.ServerConfig{Topic: guestapi.Topic(a), Server: a, Version: "1.0", Codec: rpc.PlainCodec(), Concurrency: 2})
	rpc.Register(gsrv, "ping", func(_ context.Context, _ rpc.Context, p pingArgs) (pingArgs, error) { return pingArgs{N: p.N + 1}, nil })
	if err := gsrv.Start(ctx); err != nil {
		t.Fatalf("guest server on its own account: %v", err)
	}
	defer gsrv.Stop(context.Background())
	var got pingArgs
	if err := cp.Client(rpc.Target{Topic: guestapi.Topic(a), Version: "1.0"}, rpc.PlainCodec()).Call(ctx, rpc.Context{}, "ping", pingArgs{N: 41}, &got, 20*time.Second); err != nil || got.N != 42 {
		t.Fatalf("control plane → guest call: %+v, %v", got, err)
	}
	if err := gt.Client(rpc.Target{Topic: conductor, Version: "1.0"}, rpc.PlainCodec()).Cast(ctx, rpc.Context{}, "heartbeat", pingArgs{N: 7}); err != nil {
		t.Fatalf("guest → conductor cast: %v", err)
	}
	select {
	case n := <-heartbeats:
		if n != 7 {
			t.Fatalf("heartbeat %d", n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the guest's heartbeat did not reach the conductor")
	}

	// The attacker holding A's credentials.
	p, err := rpctest.NewProbe(guestURL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	qa, qb := guestapi.Topic(a), guestapi.Topic(b)
	for what, err := range map[string]error{
		"declare a queue of its own choosing":      p.DeclareQueue(testenv.UniqueName(t, "spy")),
		"declare a server-named queue":             p.DeclareQueue(""),
		"bind its queue to the taskmanager topic":  p.Bind(qa, exchange, taskmanager),
		"bind its queue to B's topic":              p.Bind(qa, exchange, qb),
		"bind its queue to B's server topic":       p.Bind(qa, exchange, qb+"."+b),
		"bind its queue to every topic":            p.Bind(qa, exchange, "#"),
		"bind its queue to the conductor topic":    p.Bind(qa, exchange, conductor),
		"bind B's queue to its fanout exchange":    p.Bind(qb, qa+"_fanout", ""),
		"consume B's queue":                        p.Consume(qb),
		"consume B's server queue":                 p.Consume(qb + "." + b),
		"consume the taskmanager's queue":          p.Consume(taskmanager),
		"consume the conductor's queue":            p.Consume(conductor),
		"delete B's queue":                         p.DeleteQueue(qb),
		"publish to the taskmanager topic":         p.Publish(ctx, exchange, taskmanager),
		"publish to B's topic":                     p.Publish(ctx, exchange, qb),
		"publish to its own topic":                 p.Publish(ctx, exchange, qa),
		"publish to B's fanout exchange":           p.Publish(ctx, qb+"_fanout", ""),
		"declare the control exchange (configure)": p.DeclareExchange(exchange, "topic"),
		"delete the control exchange":              p.DeleteExchange(exchange),
		"declare an exchange of its own choosing":  p.DeclareExchange(testenv.UniqueName(t, "spy"), "fanout"),
	} {
		if !rpctest.AccessRefused(err) {
			t.Errorf("%s: want ACCESS_REFUSED, got %v", what, err)
		}
	}
	// What it needs stays allowed.
	for what, err := range map[string]error{
		"bind its queue to its own topic": p.Bind(qa, exchange, qa),
		"publish to the conductor topic":  p.Publish(ctx, exchange, conductor),
	} {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	select { // the probe's body is not an oslo message: dropped, never a heartbeat
	case n := <-heartbeats:
		t.Errorf("unexpected heartbeat %d", n)
	case <-time.After(200 * time.Millisecond):
	}

	// A new password (a rebuild) replaces the old one; Delete removes the account.
	pass2 := NewPassword()
	if err := admin.Put(ctx, user, pass2, GrantFor(a, "/", exchange, conductor)); err != nil {
		t.Fatal(err)
	}
	if _, err := rpctest.NewProbe(guestURL); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("old password after a new one: %v", err)
	}
	url2, _ := WithAccount(base, user, pass2)
	p2, err := rpctest.NewProbe(url2)
	if err != nil {
		t.Fatalf("new password: %v", err)
	}
	p2.Close()
	if err := admin.Delete(ctx, user); err != nil {
		t.Fatal(err)
	}
	if err := admin.Delete(ctx, user); err != nil {
		t.Errorf("deleting a missing account: %v", err)
	}
	if ok, err := admin.Exists(ctx, user); ok || err != nil {
		t.Errorf("account exists after delete: %v %v", ok, err)
	}
	if _, err := rpctest.NewProbe(url2); err == nil {
		t.Error("a deleted account still logs in")
	}
}

// TestAdminRefusesBadCredentials: a wrong management password is reported by Check, not at the first create.
func TestAdminRefusesBadCredentials(t *testing.T) {
	api, user, _ := testenv.RabbitManagement(t)
	a, err := NewAdmin(Config{ManagementURL: api, ManagementUser: user, ManagementPassword: "wrong", ManagementTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Check with a wrong password: %v", err)
	}
	if _, err := NewAdmin(Config{ManagementURL: api}); err == nil {
		t.Fatal("NewAdmin without credentials")
	}
}
