package rpc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/testenv"
)

type echoArgs struct {
	Text string `json:"text"`
	Fail string `json:"fail,omitempty"`
}

func (a echoArgs) Validate() error {
	if a.Text == "" {
		return errors.New("text is required")
	}
	return nil
}

type echoResult struct {
	Text      string `json:"text"`
	RequestID string `json:"request_id"`
	Sender    string `json:"sender"`
}

func testLog(t testing.TB) *logrus.Entry {
	l := logrus.New()
	l.SetLevel(logrus.WarnLevel)
	return logrus.NewEntry(l).WithField("test", t.Name())
}

// newTransport dials the test broker with a control exchange of its own.
func newTransport(t testing.TB) *Transport {
	t.Helper()
	return newTransportOn(t, testenv.UniqueName(t, "trove-test"))
}

// newTransportOn dials the test broker with the given control exchange.
func newTransportOn(t testing.TB, exchange string) *Transport {
	t.Helper()
	cfg := testConfig(testenv.TransportURL(t), exchange)
	cfg.MissingConsumer = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := Dial(ctx, cfg, testLog(t))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// echoServer starts a server on topic that answers echo and reports casts on the returned channel.
func echoServer(t testing.TB, tr *Transport, topic, server string, codec Codec) (*Server, chan echoResult) {
	t.Helper()
	srv := tr.NewServer(ServerConfig{Topic: topic, Server: server, Version: "1.3", Codec: codec, Concurrency: 8})
	casts := make(chan echoResult, 1024)
	Register(srv, "echo", func(_ context.Context, rc Context, a echoArgs) (echoResult, error) {
		switch a.Fail {
		case "notfound":
			return echoResult{}, Errorf("NotFound", "no such thing %s", a.Text)
		case "plain":
			return echoResult{}, errors.New("plain failure")
		}
		return echoResult{Text: a.Text, RequestID: rc.RequestID, Sender: rc.SenderInstanceID}, nil
	})
	Register(srv, "note", func(_ context.Context, rc Context, a echoArgs) (Void, error) {
		casts <- echoResult{Text: a.Text, RequestID: rc.RequestID, Sender: rc.SenderInstanceID}
		return Void{}, nil
	})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	return srv, casts
}

func TestCallAndCast(t *testing.T) {
	tr := newTransport(t)
	const inst = "2b9f0c7e-1111-4222-8333-444455556666"
	cases := []struct {
		name       string
		srv, cli   Codec
		wantSender string
	}{
		{"plaintext", PlainCodec(), PlainCodec(), ""},
		{"trove", TroveCodec(vecInstKey), TroveCodec(vecInstKey), ""},
		{"aead", AEADCodec(keyring.Single(vecInstKey), inst), AEADCodec(keyring.Single(vecInstKey), inst), inst},
		{"aead during rotation", AEADCodec(keyring.KeySet{Current: "new-key", Previous: vecInstKey, PreviousUntil: time.Now().Add(time.Hour)}, inst),
			AEADCodec(keyring.Single(vecInstKey), inst), inst},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic := testenv.UniqueName(t, "guestagent")
			_, casts := echoServer(t, tr, topic, inst, c.srv)
			cli := tr.Client(Target{Topic: topic, Version: "1.3"}, c.cli)
			rc := Context{RequestID: "req-" + c.name, Roles: []string{"admin"}}
			var res echoResult
			if err := cli.Call(context.Background(), rc, "echo", echoArgs{Text: "hello"}, &res, 10*time.Second); err != nil {
				t.Fatalf("Call: %v", err)
			}
			if want := (echoResult{Text: "hello", RequestID: rc.RequestID, Sender: c.wantSender}); res != want {
				t.Fatalf("result %+v, want %+v", res, want)
			}
			if err := cli.Cast(context.Background(), rc, "note", echoArgs{Text: "cast"}); err != nil {
				t.Fatalf("Cast: %v", err)
			}
			if got := <-casts; got.Text != "cast" || got.RequestID != rc.RequestID {
				t.Fatalf("cast delivered %+v", got)
			}
			// server-directed target reaches the topic.server queue
			direct := tr.Client(Target{Topic: topic, Server: inst, Version: "1.0"}, c.cli)
			if err := direct.Call(context.Background(), rc, "echo", echoArgs{Text: "direct"}, &res, 10*time.Second); err != nil || res.Text != "direct" {
				t.Fatalf("direct call: %+v, %v", res, err)
			}
		})
	}
}

func TestRemoteErrorKinds(t *testing.T) {
	tr := newTransport(t)
	topic := testenv.UniqueName(t, "errors")
	echoServer(t, tr, topic, "", PlainCodec())
	cases := []struct {
		name, version, method string
		args                  any
		class, module         string
	}{
		{"unknown method", "1.3", "nope", echoArgs{Text: "x"}, "NoSuchMethod", ModuleDispatcher},
		{"private method", "1.3", "_echo", echoArgs{Text: "x"}, "NoSuchMethod", ModuleDispatcher},
		{"newer minor", "1.4", "echo", echoArgs{Text: "x"}, "UnsupportedVersion", ModuleDispatcher},
		{"other major", "2.0", "echo", echoArgs{Text: "x"}, "UnsupportedVersion", ModuleDispatcher},
		{"typed handler error", "1.0", "echo", echoArgs{Text: "x", Fail: "notfound"}, "NotFound", ModuleTrove},
		{"untyped handler error", "1.0", "echo", echoArgs{Text: "x", Fail: "plain"}, "Exception", ModuleBuiltins},
		{"validation", "1.0", "echo", map[string]string{"text": ""}, "ValueError", ModuleBuiltins},
		{"bad argument type", "1.0", "echo", map[string]int{"text": 3}, "TypeError", ModuleBuiltins},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cli := tr.Client(Target{Topic: topic, Version: c.version}, nil)
			err := cli.Call(context.Background(), Context{}, c.method, c.args, nil, 10*time.Second)
			var re *RemoteError
			if !errors.As(err, &re) || re.Class != c.class || re.Module != c.module {
				t.Fatalf("err = %#v, want %s.%s", err, c.module, c.class)
			}
			if !errors.Is(err, &RemoteError{Class: c.class}) || Kind(err) != c.class {
				t.Fatalf("kind lost: %v", err)
			}
		})
	}
}

func TestCallTimeout(t *testing.T) {
	tr := newTransport(t)
	cli := tr.Client(Target{Topic: testenv.UniqueName(t, "nobody")}, nil)
	err := cli.Call(context.Background(), Context{}, "echo", echoArgs{Text: "x"}, nil, 300*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || Kind(err) != "MessagingTimeout" {
		t.Fatalf("err = %v, want MessagingTimeout", err)
	}
}

func TestFanoutCast(t *testing.T) {
	tr := newTransport(t)
	topic := testenv.UniqueName(t, "fan")
	_, a := echoServer(t, tr, topic, "a", PlainCodec())
	_, b := echoServer(t, tr, topic, "b", PlainCodec())
	if err := tr.Client(Target{Topic: topic, Fanout: true}, nil).Cast(context.Background(), Context{}, "note", echoArgs{Text: "all"}); err != nil {
		t.Fatal(err)
	}
	if x, y := <-a, <-b; x.Text != "all" || y.Text != "all" {
		t.Fatalf("fanout delivered %+v %+v", x, y)
	}
	if err := tr.Client(Target{Topic: topic, Fanout: true}, nil).Call(context.Background(), Context{}, "echo", nil, nil, time.Second); err == nil {
		t.Fatal("fanout call accepted")
	}
}

// sniff binds a queue of its own to the control exchange with routing key key and returns its deliveries.
func sniff(t *testing.T, tr *Transport, exchange, key string) <-chan amqp.Delivery {
	t.Helper()
	ch := rawChannel(t, tr)
	if err := ch.ExchangeDeclare(exchange, "topic", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, key, exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	d, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestWireFormat checks what a Python peer sees: AMQP properties (rpc.md §A.2), the 2.0 envelope and the
// inner keys (§A.3, §A.4), and that the queues a Go server declares carry oslo's flags (§A.1; our own fanout
// queue is auto-delete, docs/rpc.md): re-declaring them with these parameters succeeds (a mismatch is
// PRECONDITION_FAILED).
func TestWireFormat(t *testing.T) {
	tr := newTransport(t)
	topic := testenv.UniqueName(t, "wire")
	deliveries := sniff(t, tr, tr.Exchange(), topic)
	cli := tr.Client(Target{Topic: topic, Version: "1.3"}, nil)
	rc := Context{UserID: "u1", ProjectID: "p1", RequestID: "req-w", AuthToken: "tok", Roles: []string{"member"}}
	if err := cli.Cast(context.Background(), rc, "note", echoArgs{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	go cli.Call(context.Background(), rc, "echo", echoArgs{Text: "y"}, nil, 1500*time.Millisecond)
	for i, kind := range []string{"cast", "call"} {
		d := <-deliveries
		if d.ContentType != "application/json" || d.ContentEncoding != "utf-8" || d.DeliveryMode != 2 || d.Priority != 0 || len(d.Headers) != 0 {
			t.Fatalf("%s properties: %+v", kind, d)
		}
		if wantExp := []string{"", "1500"}[i]; d.Expiration != wantExp {
			t.Fatalf("%s expiration %q, want %q", kind, d.Expiration, wantExp)
		}
		var outer map[string]string
		if err := json.Unmarshal(d.Body, &outer); err != nil || len(outer) != 2 || outer["oslo.version"] != "2.0" {
			t.Fatalf("%s envelope: %s (%v)", kind, d.Body, err)
		}
		var inner map[string]any
		if err := json.Unmarshal([]byte(outer["oslo.message"]), &inner); err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]any{"version": "1.3", "_context_user": "u1", "_context_project_id": "p1",
			"_context_request_id": "req-w", "_context_auth_token": "tok", "_context_user_identity": "u1 p1 - - -",
			"_context_is_admin_project": true} {
			if inner[k] != want {
				t.Errorf("%s: %s = %v, want %v", kind, k, inner[k], want)
			}
		}
		if id, _ := inner["_unique_id"].(string); len(id) != 32 {
			t.Errorf("%s: _unique_id %v", kind, inner["_unique_id"])
		}
		_, hasMsgID := inner["_msg_id"]
		if hasMsgID != (kind == "call") {
			t.Errorf("%s: _msg_id present = %v", kind, hasMsgID)
		}
		if kind == "call" {
			if q, _ := inner["_reply_q"].(string); !strings.HasPrefix(q, "reply_") || len(q) != 38 {
				t.Errorf("_reply_q = %v", inner["_reply_q"])
			}
			if v, ok := inner["_timeout"]; !ok || v != nil {
				t.Errorf("_timeout = %v, want null", v)
			}
		}
	}

	srv, _ := echoServer(t, tr, topic, "host1", PlainCodec())
	ch := rawChannel(t, tr)
	ttl := amqp.Table{"x-expires": int32(1800000)}
	for _, q := range []struct {
		name       string
		autoDelete bool // only our own fanout queue differs from oslo (docs/rpc.md)
		args       amqp.Table
	}{{topic, false, nil}, {topic + ".host1", false, nil}, {srv.fanoutQ, true, ttl}, {tr.replyQ, false, ttl}} {
		if _, err := ch.QueueDeclare(q.name, false, q.autoDelete, false, false, q.args); err != nil {
			t.Fatalf("queue %s does not carry oslo's flags: %v", q.name, err)
		}
	}
	if err := ch.ExchangeDeclare(tr.Exchange(), "topic", false, false, false, false, nil); err != nil {
		t.Fatalf("control exchange flags: %v", err)
	}
	if err := ch.ExchangeDeclare(topic+"_fanout", "fanout", false, true, false, false, nil); err != nil {
		t.Fatalf("fanout exchange flags: %v", err)
	}
}

// rawCast publishes body as is (what an attacker or a buggy peer on the bus can do).
func rawCast(t *testing.T, tr *Transport, topic string, body []byte) {
	t.Helper()
	if err := tr.publish(context.Background(), tr.Exchange(), "topic", topic, basePublishing(body)); err != nil {
		t.Fatal(err)
	}
}

// TestReceiverRejects runs the no-downgrade and replay rules against a real server: each bad message is
// dropped and counted, and a good message sent afterwards is the only one the handler sees.
func TestReceiverRejects(t *testing.T) {
	tr := newTransport(t)
	const inst = "7c1d4e2f-aaaa-4bbb-8ccc-dddddddddddd"
	m := func(topic string) Meta { return Meta{Topic: topic, Method: "note"} }
	body := func(t *testing.T, c Codec, topic string, args map[string]json.RawMessage) []byte {
		wa, wc, err := c.EncodeRequest(m(topic), args, raw(`{"request_id":"req-bad"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, err := encodeRequest(request{Method: "note", Version: "1.0", UniqueID: hexID(), Args: wa, Ctx: wc})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	text := map[string]json.RawMessage{"text": jstr("bad")}
	cases := []struct {
		name   string
		server Codec
		bad    func(t *testing.T, topic string) [][]byte
		reason string
	}{
		{"plaintext to a trove-keyed guest", TroveCodec(vecInstKey), func(t *testing.T, topic string) [][]byte {
			return [][]byte{body(t, PlainCodec(), topic, text)}
		}, RejectPlaintext},
		{"wrong trove key", TroveCodec(vecInstKey), func(t *testing.T, topic string) [][]byte {
			return [][]byte{body(t, TroveCodec("wrong"), topic, text)}
		}, RejectDecrypt},
		{"plaintext to an aead guest", AEADCodec(keyring.Single(vecInstKey), inst), func(t *testing.T, topic string) [][]byte {
			return [][]byte{body(t, PlainCodec(), topic, text)}
		}, RejectPlaintext},
		{"tampered aead", AEADCodec(keyring.Single(vecInstKey), inst), func(t *testing.T, topic string) [][]byte {
			wa, wc, _ := AEADCodec(keyring.Single(vecInstKey), inst).EncodeRequest(m(topic), text, raw(`{}`))
			var h aeadHeader
			_ = json.Unmarshal(wc["aead"], &h)
			box, _ := base64.StdEncoding.DecodeString(h.Box)
			box[len(box)-20] ^= 0x01
			h.Box = base64.StdEncoding.EncodeToString(box)
			wc["aead"], _ = json.Marshal(h)
			b, _ := encodeRequest(request{Method: "note", Version: "1.0", UniqueID: hexID(), Args: wa, Ctx: wc})
			return [][]byte{b}
		}, RejectDecrypt},
		{"replayed aead (new _unique_id)", AEADCodec(keyring.Single(vecInstKey), inst), func(t *testing.T, topic string) [][]byte {
			good := AEADCodec(keyring.Single(vecInstKey), inst)
			wa, wc, _ := good.EncodeRequest(m(topic), map[string]json.RawMessage{"text": jstr("once")}, raw(`{}`))
			var out [][]byte
			for range 2 {
				b, _ := encodeRequest(request{Method: "note", Version: "1.0", UniqueID: hexID(), Args: wa, Ctx: wc})
				out = append(out, b)
			}
			return out
		}, RejectReplay},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic := testenv.UniqueName(t, "reject")
			srv, casts := echoServer(t, tr, topic, inst, c.server)
			before := RejectCounts()[c.reason]
			for _, b := range c.bad(t, topic) {
				rawCast(t, tr, topic, b)
			}
			// a valid message after the bad ones: since the server handles messages of one queue in order
			// with Concurrency 8 we wait for it, then for the counter.
			var good Codec = c.server
			if a, ok := c.server.(*AEADCodecOf); ok {
				good = AEADCodec(a.Keys, inst)
			}
			if err := tr.Client(Target{Topic: topic}, good).Cast(context.Background(), Context{}, "note", echoArgs{Text: "good"}); err != nil {
				t.Fatal(err)
			}
			var got []string
			for r := range casts {
				got = append(got, r.Text)
				if r.Text == "good" {
					break
				}
			}
			waitFor(t, func() bool { return RejectCounts()[c.reason] > before })
			if want := expectedHandled(c.name); fmt.Sprint(got) != want {
				t.Fatalf("handler saw %v, want %s", got, want)
			}
			_ = srv
		})
	}
}

func expectedHandled(name string) string {
	if strings.HasPrefix(name, "replayed") {
		return "[once good]"
	}
	return "[good]"
}

// waitFor polls cond (the server rejects asynchronously); it fails the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached within 10 s")
}

func TestDuplicateSuppressed(t *testing.T) {
	tr := newTransport(t)
	topic := testenv.UniqueName(t, "dup")
	_, casts := echoServer(t, tr, topic, "", PlainCodec())
	b, err := encodeRequest(request{Method: "note", Version: "1.0", UniqueID: hexID(),
		Args: map[string]json.RawMessage{"text": jstr("dup")}, Ctx: map[string]json.RawMessage{}})
	if err != nil {
		t.Fatal(err)
	}
	rawCast(t, tr, topic, b)
	rawCast(t, tr, topic, b)
	if err := tr.Client(Target{Topic: topic}, nil).Cast(context.Background(), Context{}, "note", echoArgs{Text: "end"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for r := range casts {
		if got = append(got, r.Text); r.Text == "end" {
			break
		}
	}
	if fmt.Sprint(got) != "[dup end]" {
		t.Fatalf("handled %v, want [dup end]", got)
	}
}

// TestStopDrains checks that Stop waits for a running handler and that later messages stay queued.
func TestStopDrains(t *testing.T) {
	tr := newTransport(t)
	topic := testenv.UniqueName(t, "drain")
	srv := tr.NewServer(ServerConfig{Topic: topic, Concurrency: 1})
	started, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var done []string
	Register(srv, "slow", func(_ context.Context, _ Context, a echoArgs) (Void, error) {
		if a.Text == "first" {
			close(started)
			<-release
		}
		mu.Lock()
		done = append(done, a.Text)
		mu.Unlock()
		return Void{}, nil
	})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	cli := tr.Client(Target{Topic: topic}, nil)
	if err := cli.Cast(context.Background(), Context{}, "slow", echoArgs{Text: "first"}); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := cli.Cast(context.Background(), Context{}, "slow", echoArgs{Text: "second"}); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error)
	go func() { stopped <- srv.Stop(context.Background()) }()
	waitFor(t, srv.stopping.Load)
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(done) != "[first]" {
		t.Fatalf("handled before Stop returned: %v, want [first] (second stays queued)", done)
	}
	// the second message is still in the queue for the next server
	srv2 := tr.NewServer(ServerConfig{Topic: topic})
	got := make(chan string, 1)
	Register(srv2, "slow", func(_ context.Context, _ Context, a echoArgs) (Void, error) {
		got <- a.Text
		return Void{}, nil
	})
	if err := srv2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv2.Stop(context.Background())
	if g := <-got; g != "second" {
		t.Fatalf("second server got %q", g)
	}
}
