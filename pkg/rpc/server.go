package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/logging"
)

// ServerConfig describes one RPC server (oslo's listen(target) with one endpoint).
type ServerConfig struct {
	Topic       string
	Server      string // queue topic.server; "" uses the transport's host name "0.0.0.0" like Trove's default
	Version     string // endpoint version, e.g. "1.3"
	Codec       Codec  // nil: PlainCodec
	Concurrency int    // handlers running at once; 0: 8
	// Order, when set, orders the server's messages per method (see Ordering): writes one at a time in
	// arrival order, reads beside each other but never before an earlier write; it should answer Write for
	// methods it does not know. nil: every message is dispatched at once, concurrently (conductor, taskmanager).
	Order func(method string) Ordering
}

type handlerFunc func(ctx context.Context, rc Context, args map[string]json.RawMessage) (json.RawMessage, error)

// Server consumes its topic, topic.server and fanout queues and dispatches to registered handlers.
type Server struct {
	t    *Transport
	cfg  ServerConfig
	log  *logrus.Entry
	hmu  sync.RWMutex
	hs   map[string]handlerFunc
	sem  chan struct{}
	dups *dedup

	// with cfg.Order only
	backlog chan struct{} // ordered messages taken and not finished (waiting or running)
	order   orderLock

	mu       sync.Mutex
	chs      []*amqp.Channel
	tags     []string
	fanoutQ  string
	stopping atomic.Bool
	readers  sync.WaitGroup
	inflight sync.WaitGroup
	hctx     context.Context
	hcancel  context.CancelFunc
	handled  atomic.Uint64
}

// NewServer prepares a server; register handlers, then Start.
func (t *Transport) NewServer(cfg ServerConfig) *Server {
	if cfg.Codec == nil {
		cfg.Codec = PlainCodec()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Server == "" {
		cfg.Server = "0.0.0.0"
	}
	if cfg.Version == "" {
		cfg.Version = "1.0"
	}
	hctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		t: t, cfg: cfg, hs: map[string]handlerFunc{}, sem: make(chan struct{}, cfg.Concurrency), dups: newDedup(4096),
		log:     t.log.WithFields(logrus.Fields{"topic": cfg.Topic, "server": cfg.Server}),
		fanoutQ: cfg.Topic + "_fanout_" + hexID(), hctx: hctx, hcancel: cancel,
	}
	if cfg.Order != nil {
		s.backlog = make(chan struct{}, cfg.Concurrency)
	}
	return s
}

// Void is the result type of handlers that return nothing (encodes as null).
type Void struct{}

// MarshalJSON encodes Void as null.
func (Void) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// Register binds method to a typed handler. Arguments are decoded from the message's args object (json tags
// are the oslo argument names) and validated before h runs; a decode or validation failure is answered with
// builtins TypeError / ValueError (or the *RemoteError Validate returns).
func Register[A Validator, R any](s *Server, method string, h func(ctx context.Context, rc Context, a A) (R, error)) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.hs[method] = func(ctx context.Context, rc Context, args map[string]json.RawMessage) (json.RawMessage, error) {
		var a A
		if err := json.Unmarshal(joinObject(args), &a); err != nil {
			return nil, &RemoteError{Class: "TypeError", Module: ModuleBuiltins, Message: fmt.Sprintf("%s: bad arguments: %v", method, err)}
		}
		if err := a.Validate(); err != nil {
			var re *RemoteError
			if errors.As(err, &re) {
				return nil, re
			}
			return nil, &RemoteError{Class: "ValueError", Module: ModuleBuiltins, Message: fmt.Sprintf("%s: %v", method, err)}
		}
		r, err := h(ctx, rc, a)
		if err != nil {
			return nil, err
		}
		return json.Marshal(r)
	}
}

// Start declares the server's queues and starts consuming; after a reconnect it resumes by itself.
func (s *Server) Start(ctx context.Context) error {
	return s.t.register(ctx, s)
}

// attach declares exactly oslo's topology (rpc.md §A.1) and starts one reader per queue, each on a channel of
// its own so that a multiple-ack never covers another queue's deliveries.
func (s *Server) attach(conn *amqp.Connection) error {
	if s.stopping.Load() {
		return nil
	}
	cfg := s.t.cfg
	prefetch := cfg.Prefetch
	if prefetch <= 0 {
		prefetch = 32 * s.cfg.Concurrency // bounded client-side buffer; unacked, so a crash loses nothing
	}
	ex, fan := cfg.ControlExchange, s.cfg.Topic+"_fanout"
	queues := []struct {
		name, exchange, key string
		transient           bool
	}{
		{s.cfg.Topic, ex, s.cfg.Topic, false},
		{s.cfg.Topic + "." + s.cfg.Server, ex, s.cfg.Topic + "." + s.cfg.Server, false},
		{s.fanoutQ, fan, "", true},
	}
	var (
		chs  []*amqp.Channel
		tags []string
	)
	fail := func(err error) error {
		for _, ch := range chs {
			ch.Close()
		}
		return err
	}
	for i, q := range queues {
		ch, err := conn.Channel()
		if err != nil {
			return fail(err)
		}
		chs = append(chs, ch)
		if err := ch.Qos(prefetch, 0, false); err != nil {
			return fail(err)
		}
		if i == 0 {
			if err := declareControlExchange(ch, cfg); err != nil {
				return fail(err)
			}
			if err := ch.ExchangeDeclare(fan, "fanout", false, true, false, false, nil); err != nil {
				return fail(fmt.Errorf("rpc: declaring exchange %s: %w", fan, err))
			}
		}
		durable, autoDelete := cfg.DurableQueues, cfg.AutoDelete
		if q.transient {
			// Our fanout queue's name is random and ours alone: unlike oslo (auto_delete false, x-expires only) it
			// is auto-delete, so a killed process leaves nothing behind (x-expires still covers a declare that is
			// never consumed). Python peers only publish to the fanout exchange; they never declare this queue.
			durable, autoDelete = false, true
		}
		if _, err := ch.QueueDeclare(q.name, durable, autoDelete, false, false, s.t.queueArgs(q.transient)); err != nil {
			return fail(fmt.Errorf("rpc: declaring queue %s: %w", q.name, err))
		}
		if err := ch.QueueBind(q.name, q.key, q.exchange, false, nil); err != nil {
			return fail(fmt.Errorf("rpc: binding queue %s: %w", q.name, err))
		}
		tag := q.name + "-" + hexID()[:8]
		deliveries, err := ch.Consume(q.name, tag, false, false, false, false, nil)
		if err != nil {
			return fail(fmt.Errorf("rpc: consuming %s: %w", q.name, err))
		}
		tags = append(tags, tag)
		s.readers.Add(1)
		if s.cfg.Order != nil {
			go s.readOrdered(deliveries)
		} else {
			go s.read(deliveries)
		}
	}
	s.mu.Lock()
	s.chs, s.tags = chs, tags
	s.mu.Unlock()
	s.log.Debug("RPC server consuming")
	return nil
}

// read takes deliveries only when a worker slot is free for each, acks them on receipt before dispatch (like
// oslo; several at once with one multiple-ack when more are already buffered) and dispatches them. Deliveries
// taken while stopping are requeued.
func (s *Server) read(deliveries <-chan amqp.Delivery) {
	defer s.readers.Done()
	batch := make([]amqp.Delivery, 0, cap(s.sem))
	for d := range deliveries {
		s.sem <- struct{}{}
		batch = append(batch[:0], d)
	fill:
		for len(batch) < cap(batch) {
			select {
			case s.sem <- struct{}{}:
			default:
				break fill
			}
			select {
			case more, ok := <-deliveries:
				if ok {
					batch = append(batch, more)
					continue
				}
			default:
			}
			<-s.sem
			break fill
		}
		last := batch[len(batch)-1]
		var err error
		if s.stopping.Load() {
			_ = last.Nack(true, true)
			err = errors.New("stopping")
		} else {
			err = last.Ack(true) // on failure the channel is gone and the broker redelivers them
		}
		if err != nil {
			for range batch {
				<-s.sem
			}
			continue
		}
		for _, d := range batch {
			s.inflight.Add(1)
			go func(body []byte) {
				defer func() { <-s.sem; s.inflight.Done() }()
				s.dispatch(body)
			}(d.Body)
		}
	}
}

// Stop stops consuming, waits for in-flight handlers until ctx ends (then cancels their context) and deletes
// the server's fanout queue (per process, useless after Stop; a new Server declares a fresh one).
func (s *Server) Stop(ctx context.Context) error {
	s.stopping.Store(true)
	s.t.unregister(s)
	s.mu.Lock()
	chs, tags := s.chs, s.tags
	s.mu.Unlock()
	for i, ch := range chs {
		_ = ch.Cancel(tags[i], false)
	}
	done := make(chan struct{})
	go func() { s.readers.Wait(); s.inflight.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.hcancel()
		err = fmt.Errorf("rpc: stopping server %s: %w", s.cfg.Topic, ctx.Err())
	}
	for _, ch := range chs {
		_ = ch.Close()
	}
	s.hcancel()
	if len(chs) > 0 { // attached at least once; auto-delete usually removed it already when its consumer went
		dctx, cancel := context.WithTimeout(context.Background(), stopDeleteTimeout)
		if derr := s.t.DeleteQueues(dctx, s.fanoutQ); derr != nil {
			s.log.WithError(derr).Warn("deleting the fanout queue at stop failed (it expires by itself)")
		}
		cancel()
	}
	return err
}

// stopDeleteTimeout bounds how long Stop waits for the broker to delete the fanout queue.
const stopDeleteTimeout = 5 * time.Second

// Handled returns how many messages reached a handler (tests, metrics).
func (s *Server) Handled() uint64 { return s.handled.Load() }

func (s *Server) dispatch(body []byte) {
	if in, ok := s.open(body); ok {
		s.run(in)
	}
}

// inbound is a message opened for dispatch.
type inbound struct {
	req    request
	meta   Meta
	args   map[string]json.RawMessage
	rc     Context
	origin Origin
	err    error // the message could not be opened: it is answered with err and no handler runs
}

// open decodes, deduplicates and authenticates one message body; false when the message is dropped
// (malformed, duplicate or rejected: logged and counted, never answered).
func (s *Server) open(body []byte) (inbound, bool) {
	req, err := decodeRequest(body)
	if err != nil {
		s.malformed(err)
		return inbound{}, false
	}
	return s.openRequest(req)
}

func (s *Server) malformed(err error) {
	countReject(RejectMalformed)
	s.log.WithError(err).Warn("dropping malformed RPC message")
}

// openRequest is open after the body was decoded.
func (s *Server) openRequest(req request) (inbound, bool) {
	log := func() *logrus.Entry { return s.log.WithField("method", req.Method) } // built only when logging
	if req.UniqueID != "" && !s.dups.add(req.UniqueID) {
		log().WithField("unique_id", req.UniqueID).Info("dropping duplicate RPC message")
		return inbound{}, false
	}
	in := inbound{req: req, meta: Meta{Topic: s.cfg.Topic, Method: req.Method, MsgID: req.MsgID, ReplyQ: req.ReplyQ}}
	args, rcJSON, origin, err := s.cfg.Codec.DecodeRequest(s.hctx, in.meta, req.Args, req.Ctx)
	var rej *RejectError
	if errors.As(err, &rej) {
		countReject(rej.Reason)
		l := log().WithField("reason", rej.Reason)
		if rej.InstanceID != "" { // the instance the message claimed to come from
			l = l.WithField("instance_id", rej.InstanceID)
		}
		l.WithError(err).Warn("rejected RPC message")
		return inbound{}, false
	}
	if err == nil {
		err = json.Unmarshal(rcJSON, &in.rc)
	}
	if err != nil {
		log().WithError(err).Error("cannot open RPC message")
		in.err = err
		return in, true
	}
	in.args, in.origin = args, origin
	in.rc.SenderInstanceID = origin.InstanceID
	return in, true
}

// run calls the handler of an opened message and replies when the message is a call.
func (s *Server) run(in inbound) {
	req, rc := in.req, in.rc
	log := func() *logrus.Entry { return s.log.WithField("method", req.Method) } // built only when logging
	if in.err != nil {
		s.reply(log, in.meta, Origin{}, nil, in.err)
		return
	}
	withReq := func() *logrus.Entry { return log().WithField("request_id", rc.RequestID) }
	s.hmu.RLock()
	h := s.hs[req.Method]
	s.hmu.RUnlock()
	var (
		result json.RawMessage
		herr   error
	)
	switch {
	case req.Namespace != "" || !versionCompatible(s.cfg.Version, req.Version):
		herr = &RemoteError{Class: "UnsupportedVersion", Module: ModuleDispatcher,
			Message: fmt.Sprintf("Endpoint does not support RPC version %s. Attempted method: %s", req.Version, req.Method)}
	case h == nil || strings.HasPrefix(req.Method, "_"):
		herr = &RemoteError{Class: "NoSuchMethod", Module: ModuleDispatcher,
			Message: "Endpoint does not support RPC method " + req.Method}
	default:
		s.handled.Add(1)
		ctx := logging.WithRequestID(s.hctx, rc.RequestID)
		result, herr = h(ctx, rc, in.args)
	}
	if herr != nil {
		withReq().WithError(herr).Warn("RPC handler failed")
	}
	s.reply(withReq, in.meta, in.origin, result, herr)
}

func (s *Server) reply(log func() *logrus.Entry, m Meta, origin Origin, result json.RawMessage, herr error) {
	if m.MsgID == "" || m.ReplyQ == "" {
		return
	}
	var (
		body []byte
		err  error
	)
	if herr != nil {
		body, err = encodeReply(m.MsgID, hexID(), nil, encodeFailure(herr))
	} else {
		var wire json.RawMessage
		if wire, err = s.cfg.Codec.EncodeResult(m, origin, result); err == nil {
			body, err = encodeReply(m.MsgID, hexID(), wire, "")
		}
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.t.cfg.MissingConsumer+10*time.Second)
		err = s.t.publishReply(ctx, m.ReplyQ, body)
		cancel()
	}
	if err != nil {
		log().WithError(err).Warn("cannot send RPC reply")
	}
}

// dedup remembers the last n _unique_id values (oslo remembers 16; we keep more).
type dedup struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string
	pos  int
}

func newDedup(n int) *dedup { return &dedup{seen: map[string]struct{}{}, ring: make([]string, n)} }

func (d *dedup) add(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[id]; ok {
		return false
	}
	if old := d.ring[d.pos]; old != "" {
		delete(d.seen, old)
	}
	d.ring[d.pos] = id
	d.pos = (d.pos + 1) % len(d.ring)
	d.seen[id] = struct{}{}
	return true
}

var rejectCounts sync.Map // reason → *atomic.Uint64

func countReject(reason string) {
	v, _ := rejectCounts.LoadOrStore(reason, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// RejectCounts returns how many received messages were rejected, by reason (process-wide, for metrics).
func RejectCounts() map[string]uint64 {
	out := map[string]uint64{}
	rejectCounts.Range(func(k, v any) bool { out[k.(string)] = v.(*atomic.Uint64).Load(); return true })
	return out
}
