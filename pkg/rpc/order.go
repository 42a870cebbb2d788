package rpc

import (
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sirupsen/logrus"
)

// Ordering is how a method's messages are ordered against the other messages of a server that has an
// ServerConfig.Order hook. Messages keep the order in which the server's readers received them from the broker
// (for one queue: the order they were sent in).
type Ordering uint8

const (
	// Write (the zero value) runs alone: after every earlier ordered message has finished and before any later
	// one starts. For anything that changes state, and for methods the hook does not know.
	Write Ordering = iota
	// Read runs beside other reads, but only after every earlier write has finished (it sees them) and before
	// any later write starts.
	Read
	// Unordered is dispatched at once, beside anything, like on a server without the hook: for liveness
	// probes that must answer while a long write runs.
	Unordered
)

func (o Ordering) String() string {
	switch o {
	case Write:
		return "write"
	case Read:
		return "read"
	case Unordered:
		return "unordered"
	}
	return "unknown"
}

// slowTurn is how long an ordered message may wait for its turn before the wait is logged.
const slowTurn = time.Second

// readOrdered is read for a server with an Order hook. It takes one delivery at a time, in queue order, decodes
// it (once) and classifies its method:
//   - Unordered: waits for a handler slot, acks, opens and dispatches at once (as read does);
//   - Read/Write: waits for a backlog slot, acks, opens and takes its turn in the server's order lock here,
//     before the next delivery is looked at; its goroutine waits for the turn, then for a handler slot.
//
// The reader reserves the turn without waiting for it, so arrival order is kept without the reader blocking
// behind a long write: Unordered messages (rpc_ping) are still answered while prepare runs, as long as fewer
// than Concurrency ordered messages wait (then the reader stops taking deliveries until one finishes).
// Messages are acked before they are opened, so a delivery that the broker redelivers after a failed ack is not
// mistaken for a duplicate.
func (s *Server) readOrdered(deliveries <-chan amqp.Delivery) {
	defer s.readers.Done()
	for d := range deliveries {
		if s.stopping.Load() {
			_ = d.Nack(false, true)
			continue
		}
		req, err := decodeRequest(d.Body)
		if err != nil {
			_ = d.Ack(false)
			s.malformed(err)
			continue
		}
		kind := s.cfg.Order(req.Method)
		if kind != Read && kind != Unordered {
			kind = Write
		}
		slots := s.sem
		if kind != Unordered {
			slots = s.backlog
		}
		slots <- struct{}{}
		if s.stopping.Load() {
			_ = d.Nack(false, true)
			<-slots
			continue
		}
		if err := d.Ack(false); err != nil { // the channel is gone: the broker redelivers it
			<-slots
			continue
		}
		in, ok := s.openRequest(req)
		if !ok {
			<-slots
			continue
		}
		s.inflight.Add(1)
		if kind == Unordered {
			go func() {
				defer func() { <-s.sem; s.inflight.Done() }()
				s.run(in)
			}()
			continue
		}
		go s.runInTurn(in, s.order.enqueue(kind))
	}
}

// runInTurn waits for t's turn, then for a handler slot, and dispatches in. When the server's handlers are
// cancelled (Stop ran out of time) before the turn came, the message is dropped.
func (s *Server) runInTurn(in inbound, t *ticket) {
	defer func() { <-s.backlog; s.inflight.Done() }()
	start := time.Now()
	select {
	case <-t.ready:
	case <-s.hctx.Done():
		if !s.order.abandon(t) {
			s.log.WithFields(logrus.Fields{"method": in.req.Method, "request_id": in.rc.RequestID}).
				Warn("RPC message dropped: the server stopped before its turn came")
			return
		}
	}
	defer s.order.release(t)
	if waited := time.Since(start); waited >= slowTurn {
		s.log.WithFields(logrus.Fields{"method": in.req.Method, "request_id": in.rc.RequestID, "ordering": t.kind.String(),
			"waited_ms": waited.Milliseconds()}).Info("RPC message waited for earlier messages")
	}
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	s.run(in)
}

// orderLock is a reader/writer lock whose turns are handed out strictly in the order they were asked for
// (enqueue never blocks; the ticket's ready channel closes when its turn comes): a write waits for every
// earlier ticket, a read for every earlier write, and nothing overtakes a waiting write.
type orderLock struct {
	mu      sync.Mutex
	waiting []*ticket
	readers int  // reads holding their turn
	writing bool // a write holds its turn
}

type ticket struct {
	kind    Ordering // Read or Write
	ready   chan struct{}
	granted bool // under orderLock.mu
}

// enqueue takes the next place in line.
func (l *orderLock) enqueue(kind Ordering) *ticket {
	t := &ticket{kind: kind, ready: make(chan struct{})}
	l.mu.Lock()
	l.waiting = append(l.waiting, t)
	l.grant()
	l.mu.Unlock()
	return t
}

// release ends a granted ticket's turn.
func (l *orderLock) release(t *ticket) {
	l.mu.Lock()
	if t.kind == Write {
		l.writing = false
	} else {
		l.readers--
	}
	l.grant()
	l.mu.Unlock()
}

// abandon leaves the line before t's turn came; it reports true when the turn came meanwhile (the caller holds
// it and must release it).
func (l *orderLock) abandon(t *ticket) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.granted {
		return true
	}
	for i, w := range l.waiting {
		if w == t {
			l.waiting = append(l.waiting[:i], l.waiting[i+1:]...)
			break
		}
	}
	l.grant()
	return false
}

// grant hands turns out from the head of the line while they are compatible with the turns held.
func (l *orderLock) grant() {
	for len(l.waiting) > 0 {
		t := l.waiting[0]
		if l.writing || t.kind == Write && l.readers > 0 {
			return
		}
		if t.kind == Write {
			l.writing = true
		} else {
			l.readers++
		}
		t.granted = true
		close(t.ready)
		l.waiting[0] = nil
		l.waiting = l.waiting[1:]
	}
}
