package rpc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sirupsen/logrus"
)

// Transport is one reconnecting AMQP connection shared by the clients and servers of a process. When the
// broker drops the connection it redials with back-off (rabbit_retry_interval, +rabbit_retry_backoff per
// attempt, at most rabbit_interval_max), re-declares every server's topology and resumes its consumers.
type Transport struct {
	cfg  Config
	log  *logrus.Entry
	uris []string
	name string // AMQP connection_name: <process>:<pid>:<uuid>

	mu       sync.Mutex
	conn     *amqp.Connection
	ready    chan struct{} // closed while conn is usable
	declared map[string]bool
	pub      *amqp.Channel
	pubMu    sync.Mutex
	rpub     *amqp.Channel
	rpubRet  chan amqp.Return
	rpubMu   sync.Mutex

	attachMu  sync.Mutex // serializes (re)attachment of consumers
	consumers map[attacher]struct{}

	replyMu sync.Mutex
	replyOK bool
	replyQ  string
	callsMu sync.Mutex
	calls   map[string]chan reply

	closing   chan struct{}
	closeOnce sync.Once
	done      chan struct{}

	observer atomic.Pointer[Observer] // SetObserver; nil: none
}

// attacher is anything that consumes: it (re)declares its topology and starts consuming on a new connection.
type attacher interface {
	attach(conn *amqp.Connection) error
}

// Dial connects to the broker of cfg.TransportURL, retrying with back-off until ctx ends, and keeps the
// connection up until Close.
func Dial(ctx context.Context, cfg Config, log *logrus.Entry) (*Transport, error) {
	uris, err := amqpURIs(cfg.TransportURL)
	if err != nil {
		return nil, err
	}
	if cfg.ControlExchange == "" {
		cfg.ControlExchange = "openstack"
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = 60 * time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	if cfg.IntervalMax <= 0 {
		cfg.IntervalMax = 30 * time.Second
	}
	if cfg.TransientTTL <= 0 {
		cfg.TransientTTL = 1800 * time.Second
	}
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	t := &Transport{
		cfg: cfg, log: log.WithField("component", "rpc"), uris: uris,
		ready: make(chan struct{}), consumers: map[attacher]struct{}{}, calls: map[string]chan reply{},
		name:   fmt.Sprintf("%s:%d:%s", filepath.Base(os.Args[0]), os.Getpid(), uuid.NewString()),
		replyQ: "reply_" + hexID(), closing: make(chan struct{}), done: make(chan struct{}),
	}
	conn, err := t.dialLoop(ctx)
	if err != nil {
		return nil, err
	}
	t.setConnected(conn)
	go t.manage(conn)
	return t, nil
}

func hexID() string { return strings.ReplaceAll(uuid.NewString(), "-", "") }

// Close stops reconnecting and closes the connection. Servers should be stopped first.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() { close(t.closing) })
	<-t.done
	return nil
}

// Exchange is the control exchange this transport publishes to.
func (t *Transport) Exchange() string { return t.cfg.ControlExchange }

func (t *Transport) dial(i int) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(t.name)
	return amqp.DialConfig(t.uris[i%len(t.uris)], amqp.Config{
		Heartbeat: t.cfg.Heartbeat, Properties: props, Locale: "en_US",
		Dial: amqp.DefaultDial(10 * time.Second),
	})
}

// dialLoop dials until success, ctx end or Close, sleeping with oslo's back-off between attempts.
func (t *Transport) dialLoop(ctx context.Context) (*amqp.Connection, error) {
	delay := t.cfg.RetryInterval
	for attempt := 0; ; attempt++ {
		conn, err := t.dial(attempt)
		if err == nil {
			return conn, nil
		}
		t.log.WithError(err).WithField("retry_in", delay).Warn("AMQP connection failed")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("rpc: connecting to the message broker: %w (last error: %v)", ctx.Err(), err)
		case <-t.closing:
			return nil, errors.New("rpc: transport closed")
		case <-time.After(delay):
		}
		delay = min(delay+t.cfg.RetryBackoff, t.cfg.IntervalMax)
	}
}

func (t *Transport) setConnected(conn *amqp.Connection) {
	t.mu.Lock()
	t.conn = conn
	t.declared = map[string]bool{}
	t.mu.Unlock()
}

// manage watches the connection, re-dials after a drop and re-attaches consumers.
func (t *Transport) manage(conn *amqp.Connection) {
	defer close(t.done)
	for {
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		if !conn.IsClosed() && t.attachAll(conn) {
			t.mu.Lock()
			close(t.ready)
			t.mu.Unlock()
			t.log.Info("AMQP connection ready")
			select {
			case err := <-closed:
				t.log.WithField("reason", err).Warn("AMQP connection lost, reconnecting")
			case <-t.closing:
				t.markDown()
				_ = conn.Close()
				return
			}
		} else {
			_ = conn.Close()
		}
		t.markDown()
		var err error
		if conn, err = t.dialLoop(context.Background()); err != nil {
			return // closing
		}
		t.setConnected(conn)
	}
}

func (t *Transport) markDown() {
	t.mu.Lock()
	select {
	case <-t.ready:
		t.ready = make(chan struct{})
	default:
	}
	t.conn = nil
	t.mu.Unlock()
	t.pubMu.Lock()
	t.pub = nil
	t.pubMu.Unlock()
	t.rpubMu.Lock()
	t.rpub = nil
	t.rpubMu.Unlock()
}

func (t *Transport) attachAll(conn *amqp.Connection) bool {
	t.attachMu.Lock()
	defer t.attachMu.Unlock()
	for c := range t.consumers {
		if err := c.attach(conn); err != nil {
			t.log.WithError(err).Error("re-declaring consumer after reconnect failed")
			return false
		}
	}
	return true
}

// register adds a consumer that is attached now (when connected) and after every reconnect.
func (t *Transport) register(ctx context.Context, c attacher) error {
	conn, err := t.connection(ctx)
	if err != nil {
		return err
	}
	t.attachMu.Lock()
	defer t.attachMu.Unlock()
	t.consumers[c] = struct{}{}
	if err := c.attach(conn); err != nil {
		delete(t.consumers, c)
		return err
	}
	return nil
}

func (t *Transport) unregister(c attacher) {
	t.attachMu.Lock()
	delete(t.consumers, c)
	t.attachMu.Unlock()
}

// connection waits until the connection is usable.
func (t *Transport) connection(ctx context.Context) (*amqp.Connection, error) {
	for {
		t.mu.Lock()
		ready, conn := t.ready, t.conn
		t.mu.Unlock()
		select {
		case <-ready:
			if conn != nil && !conn.IsClosed() {
				return conn, nil
			}
			time.Sleep(10 * time.Millisecond)
		case <-t.closing:
			return nil, errors.New("rpc: transport closed")
		case <-ctx.Done():
			return nil, fmt.Errorf("rpc: message broker unavailable: %w", ctx.Err())
		}
	}
}

// declareExchange declares an exchange once per connection with oslo's flags.
func (t *Transport) declareExchange(ch *amqp.Channel, name, kind string) error {
	t.mu.Lock()
	done := t.declared[name]
	t.mu.Unlock()
	if done || name == "" {
		return nil
	}
	if name == t.cfg.ControlExchange && kind == "topic" {
		if err := declareControlExchange(ch, t.cfg); err != nil {
			return err
		}
	} else {
		durable, autoDelete := t.cfg.DurableQueues, t.cfg.AutoDelete
		if kind == "fanout" {
			durable, autoDelete = false, true
		}
		if err := ch.ExchangeDeclare(name, kind, durable, autoDelete, false, false, nil); err != nil {
			return fmt.Errorf("rpc: declaring exchange %s: %w", name, err)
		}
	}
	t.mu.Lock()
	t.declared[name] = true
	t.mu.Unlock()
	return nil
}

// declareControlExchange declares the control exchange with oslo's flags, or only checks that it exists when the
// account may not configure it (PassiveControlExchange: a guest's own broker account).
func declareControlExchange(ch *amqp.Channel, cfg Config) error {
	ex := cfg.ControlExchange
	declare := ch.ExchangeDeclare
	if cfg.PassiveControlExchange {
		declare = ch.ExchangeDeclarePassive
	}
	if err := declare(ex, "topic", cfg.DurableQueues, cfg.AutoDelete, false, false, nil); err != nil {
		return fmt.Errorf("rpc: declaring exchange %s: %w", ex, err)
	}
	return nil
}

func basePublishing(body []byte) amqp.Publishing {
	return amqp.Publishing{ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent, Body: body}
}

// publish sends one message with publisher confirms: nil means the broker took responsibility for it. A
// message is re-sent only when it provably never left this process (no channel); a lost confirm is an error.
func (t *Transport) publish(ctx context.Context, exchange, kind, key string, msg amqp.Publishing) error {
	dc, err := t.publishDeferred(ctx, exchange, kind, key, msg)
	if err != nil {
		return err
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("rpc: waiting for broker confirm of %s/%s: %w", exchange, key, err)
	}
	if !ok {
		return fmt.Errorf("rpc: broker did not confirm message to %s/%s (connection lost or nack)", exchange, key)
	}
	return nil
}

// publishDeferred sends one message on the confirm channel and returns its pending confirmation.
func (t *Transport) publishDeferred(ctx context.Context, exchange, kind, key string, msg amqp.Publishing) (*amqp.DeferredConfirmation, error) {
	for {
		conn, err := t.connection(ctx)
		if err != nil {
			return nil, err
		}
		t.pubMu.Lock()
		if t.pub == nil || t.pub.IsClosed() {
			if t.pub != nil {
				// a channel-level error (e.g. an auto-deleted fanout exchange): forget what we declared
				t.mu.Lock()
				t.declared = map[string]bool{}
				t.mu.Unlock()
			}
			if t.pub, err = confirmChannel(conn); err != nil {
				t.pubMu.Unlock()
				if conn.IsClosed() {
					continue
				}
				return nil, err
			}
		}
		ch := t.pub
		if err := t.declareExchange(ch, exchange, kind); err != nil {
			t.pub = nil
			t.pubMu.Unlock()
			return nil, err
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, msg)
		t.pubMu.Unlock()
		if errors.Is(err, amqp.ErrClosed) {
			continue // nothing was sent; safe to retry on the next connection
		}
		if err != nil {
			return nil, fmt.Errorf("rpc: publishing to %s/%s: %w", exchange, key, err)
		}
		return dc, nil
	}
}

func confirmChannel(conn *amqp.Connection) (*amqp.Channel, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("rpc: opening channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("rpc: enabling publisher confirms: %w", err)
	}
	return ch, nil
}

var errNoRoute = errors.New("reply queue does not exist")

// publishReply sends a reply to the default exchange with mandatory=true (direct_mandatory_flag) and retries
// every 0.25 s while the caller's reply queue is missing, up to kombu_missing_consumer_retry_timeout.
func (t *Transport) publishReply(ctx context.Context, replyQ string, body []byte) error {
	deadline := time.Now().Add(t.cfg.MissingConsumer)
	for {
		err := t.publishReplyOnce(ctx, replyQ, body)
		if !errors.Is(err, errNoRoute) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (t *Transport) publishReplyOnce(ctx context.Context, replyQ string, body []byte) error {
	conn, err := t.connection(ctx)
	if err != nil {
		return err
	}
	t.rpubMu.Lock()
	defer t.rpubMu.Unlock()
	if t.rpub == nil || t.rpub.IsClosed() {
		ch, err := confirmChannel(conn)
		if err != nil {
			return err
		}
		t.rpub, t.rpubRet = ch, ch.NotifyReturn(make(chan amqp.Return, 16))
	}
	dc, err := t.rpub.PublishWithDeferredConfirmWithContext(ctx, "", replyQ, t.cfg.MandatoryReplies, false, basePublishing(body))
	if err != nil {
		return fmt.Errorf("rpc: publishing reply: %w", err)
	}
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		return fmt.Errorf("rpc: reply to %s not confirmed", replyQ)
	}
	// A basic.return precedes the ack on the same channel, so it is already queued if it happened.
	select {
	case <-t.rpubRet:
		return errNoRoute
	default:
		return nil
	}
}

func (t *Transport) queueArgs(transient bool) amqp.Table {
	args := amqp.Table{}
	if transient {
		args["x-expires"] = int32(t.cfg.TransientTTL / time.Millisecond)
	} else if t.cfg.HAQueues {
		args["x-ha-policy"] = "all"
	}
	if len(args) == 0 {
		return nil
	}
	return args
}

// ---- reply queue (client side) ----

type replyConsumer struct{ t *Transport }

func (r replyConsumer) attach(conn *amqp.Connection) error {
	t := r.t
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(t.replyQ, false, false, false, false, t.queueArgs(true)); err != nil {
		return fmt.Errorf("rpc: declaring reply queue: %w", err)
	}
	deliveries, err := ch.Consume(t.replyQ, "", true, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("rpc: consuming reply queue: %w", err)
	}
	go func() {
		for d := range deliveries {
			rep, err := decodeReply(d.Body)
			if err != nil {
				t.log.WithError(err).Warn("dropping malformed reply")
				continue
			}
			if !rep.Ending {
				continue // call-monitor heartbeat
			}
			t.callsMu.Lock()
			w := t.calls[rep.MsgID]
			delete(t.calls, rep.MsgID)
			t.callsMu.Unlock()
			if w == nil {
				t.log.WithField("msg_id", rep.MsgID).Debug("reply for an unknown or expired call")
				continue
			}
			w <- rep
		}
	}()
	return nil
}

func (t *Transport) ensureReplyQueue(ctx context.Context) error {
	t.replyMu.Lock()
	defer t.replyMu.Unlock()
	if t.replyOK {
		return nil
	}
	if err := t.register(ctx, replyConsumer{t}); err != nil {
		return err
	}
	t.replyOK = true
	return nil
}

// ServerQueues names the durable-topology queues a server of topic/server declares (topic and topic.server),
// e.g. what the taskmanager removes with DeleteQueues once an instance's guest is gone. The server's fanout
// queue is not among them: it is deleted by the server itself (Stop, or auto-delete when its process dies).
func ServerQueues(topic, server string) []string {
	return []string{topic, topic + "." + server}
}

// DeleteQueues deletes the named queues with queue.delete (if-unused and if-empty false: queued messages are
// dropped, consumers are cancelled by the broker). A queue that does not exist is not an error, so it is safe
// to repeat. It waits for the connection like a cast (until ctx ends) and starts over after a reconnect.
func (t *Transport) DeleteQueues(ctx context.Context, names ...string) error {
	for len(names) > 0 {
		conn, err := t.connection(ctx)
		if err != nil {
			return err
		}
		ch, err := conn.Channel()
		if err == nil {
			names, err = deleteQueues(ch, names)
			_ = ch.Close()
		}
		if err != nil && !conn.IsClosed() && !errors.Is(err, amqp.ErrClosed) {
			return fmt.Errorf("rpc: deleting queues: %w", err)
		}
		// err != nil here: the connection dropped; deleting again on the next one is harmless
	}
	return nil
}

// deleteQueues deletes names in order on ch and returns those left: after a not-found (which closes the
// channel) the caller continues on a new channel.
func deleteQueues(ch *amqp.Channel, names []string) ([]string, error) {
	for len(names) > 0 {
		_, err := ch.QueueDelete(names[0], false, false, false)
		var aerr *amqp.Error
		if errors.As(err, &aerr) && aerr.Code == amqp.NotFound {
			return names[1:], nil
		}
		if err != nil {
			return names, fmt.Errorf("%s: %w", names[0], err)
		}
		names = names[1:]
	}
	return nil, nil
}
