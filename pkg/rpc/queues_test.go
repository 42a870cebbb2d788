package rpc

import (
	"context"
	"errors"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/trove-go/trove/pkg/testenv"
)

// rawChannel opens a channel on a connection of its own to tr's broker (closed at the end of the test).
func rawChannel(t *testing.T, tr *Transport) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(tr.uris[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// queueExists asks the broker with a passive declare (404 → false; the 404 closes only that channel).
func queueExists(t *testing.T, tr *Transport, name string) bool {
	t.Helper()
	_, err := rawChannel(t, tr).QueueDeclarePassive(name, false, false, false, false, nil)
	var aerr *amqp.Error
	if errors.As(err, &aerr) && aerr.Code == amqp.NotFound {
		return false
	}
	if err != nil {
		t.Fatalf("passive declare %s: %v", name, err)
	}
	return true
}

// waitGone waits until the broker no longer has the queue (auto-delete runs after the consumer is gone).
func waitGone(t *testing.T, tr *Transport, name string) {
	t.Helper()
	for i := 0; i < 200 && queueExists(t, tr, name); i++ {
		time.Sleep(25 * time.Millisecond)
	}
	if queueExists(t, tr, name) {
		t.Fatalf("queue %s still exists", name)
	}
}

// TestDeleteQueues: the server queues of a topic (with messages queued, after their server stopped, with the
// fanout queue of a live server among them) are deleted; missing names and repeats are not errors.
func TestDeleteQueues(t *testing.T) {
	tr := newTransport(t)
	topic := testenv.UniqueName(t, "delq")
	srv, _ := echoServer(t, tr, topic, "host1", PlainCodec())
	live := srv.fanoutQ
	stopped := tr.NewServer(ServerConfig{Topic: topic + "-stopped", Server: "host1"})
	if err := stopped.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := stopped.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// a message waiting in the stopped server's queue does not keep it (if-empty false)
	if err := tr.Client(Target{Topic: topic + "-stopped"}, nil).Cast(context.Background(), Context{}, "note", echoArgs{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	names := append(ServerQueues(topic+"-stopped", "host1"), ServerQueues(topic, "host1")...)
	names = append(names, live)
	for _, n := range names {
		if !queueExists(t, tr, n) {
			t.Fatalf("queue %s missing before the delete", n)
		}
	}
	cases := []struct {
		name  string
		queue []string
	}{
		{"existing, in use and with messages", names},
		{"again: all missing", names},
		{"missing between existing", []string{topic + "-never", topic + "-never2"}},
		{"none", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := tr.DeleteQueues(ctx, c.queue...); err != nil {
				t.Fatalf("DeleteQueues: %v", err)
			}
			for _, n := range c.queue {
				if queueExists(t, tr, n) {
					t.Errorf("queue %s still exists", n)
				}
			}
		})
	}
	// the transport is still usable afterwards (not-found closed only a channel of its own)
	if err := tr.Client(Target{Topic: topic + "-other"}, nil).Cast(context.Background(), Context{}, "note", echoArgs{Text: "x"}); err != nil {
		t.Fatalf("cast after DeleteQueues: %v", err)
	}
}

// TestFanoutQueueRemoved: a stopped server deletes its fanout queue and keeps topic/topic.server (messages for
// the next server); a server whose process dies without Stop (its connection closes) leaves no fanout queue
// either (auto-delete); a restarted server declares a fresh fanout queue and receives fanout casts.
func TestFanoutQueueRemoved(t *testing.T) {
	topic := testenv.UniqueName(t, "fanq")
	tr := newTransport(t)
	srv := tr.NewServer(ServerConfig{Topic: topic, Server: "h"})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !queueExists(t, tr, srv.fanoutQ) {
		t.Fatal("fanout queue not declared")
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if queueExists(t, tr, srv.fanoutQ) {
		t.Errorf("fanout queue %s left after Stop", srv.fanoutQ)
	}
	for _, n := range ServerQueues(topic, "h") {
		if !queueExists(t, tr, n) {
			t.Errorf("Stop deleted %s", n)
		}
	}

	killed := newTransportOn(t, tr.Exchange())
	dead := killed.NewServer(ServerConfig{Topic: topic, Server: "h"})
	if err := dead.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	killed.Close() // no Stop: like a SIGKILLed guest, only the connection goes
	waitGone(t, tr, dead.fanoutQ)

	again, casts := echoServer(t, tr, topic, "h", PlainCodec())
	if again.fanoutQ == srv.fanoutQ || again.fanoutQ == dead.fanoutQ {
		t.Fatal("restarted server reuses a fanout queue name")
	}
	if err := tr.Client(Target{Topic: topic, Fanout: true}, nil).Cast(context.Background(), Context{}, "note", echoArgs{Text: "all"}); err != nil {
		t.Fatal(err)
	}
	if got := <-casts; got.Text != "all" {
		t.Fatalf("fanout cast after restart: %+v", got)
	}
	if err := tr.DeleteQueues(context.Background(), ServerQueues(topic, "h")...); err != nil {
		t.Fatal(err)
	}
}
