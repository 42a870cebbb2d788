package rpc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/testenv"
)

func granted(t *ticket) bool {
	select {
	case <-t.ready:
		return true
	default:
		return false
	}
}

func TestOrderLock(t *testing.T) {
	var l orderLock
	r1, r2, w1, r3, w2 := l.enqueue(Read), l.enqueue(Read), l.enqueue(Write), l.enqueue(Read), l.enqueue(Write)
	state := func() string {
		return fmt.Sprint(granted(r1), granted(r2), granted(w1), granted(r3), granted(w2))
	}
	if got := state(); got != "true true false false false" {
		t.Fatalf("adjacent reads share, the rest waits: %s", got)
	}
	l.release(r1)
	if got := state(); got != "true true false false false" {
		t.Fatalf("a write waits for every earlier read: %s", got)
	}
	l.release(r2)
	if got := state(); got != "true true true false false" {
		t.Fatalf("write after the reads: %s", got)
	}
	l.release(w1)
	if got := state(); got != "true true true true false" {
		t.Fatalf("read after the write: %s", got)
	}
	// a read behind a waiting write does not overtake it, even though a read holds the lock
	r4 := l.enqueue(Read)
	if granted(r4) {
		t.Fatal("a read overtook a waiting write")
	}
	// abandoning the waiting write lets the read behind it go
	if l.abandon(w2) {
		t.Fatal("abandon reported an ungranted ticket as granted")
	}
	if !granted(r4) {
		t.Fatal("the read behind an abandoned write still waits")
	}
	if !l.abandon(r4) {
		t.Fatal("abandon of a granted ticket must report it (the caller releases)")
	}
	l.release(r4)
	l.release(r3)
	if w := l.enqueue(Write); !granted(w) {
		t.Fatal("an idle lock does not grant a write at once")
	}
}

// orderedServer is a server with an Order hook: put (write) adds one to a counter, get (read) returns it, block
// (write) holds its turn until released, slow_get (read) holds its turn until released, ping is unordered.
type orderedServer struct {
	srv          *Server
	n            atomic.Int64
	reads        atomic.Int64 // slow_get handlers running
	maxReads     atomic.Int64
	writesBeside atomic.Int64 // writes that started while a read ran
	blocking     chan struct{}
	release      chan struct{}
	releaseOnce  sync.Once
	cli          *Client
}

// cast casts method n times.
func (s *orderedServer) cast(t *testing.T, method string, n int) {
	t.Helper()
	for range n {
		if err := s.cli.Cast(context.Background(), Context{}, method, echoArgs{Text: "w"}); err != nil {
			t.Fatal(err)
		}
	}
}

// call calls a method that answers the write count.
func (s *orderedServer) call(method string) (int64, error) {
	var n int64
	err := s.cli.Call(context.Background(), Context{}, method, echoArgs{Text: "r"}, &n, 20*time.Second)
	return n, err
}

// getLater calls get in the background; the channel receives its answer.
func (s *orderedServer) getLater(t *testing.T) <-chan int64 {
	got := make(chan int64, 1)
	go func() {
		n, err := s.call("get")
		if err != nil {
			t.Error(err)
		}
		got <- n
	}()
	return got
}

// unblock lets block and slow_get handlers finish.
func (s *orderedServer) unblock() { s.releaseOnce.Do(func() { close(s.release) }) }

func startOrderedServer(t *testing.T) *orderedServer {
	t.Helper()
	tr := newTransport(t)
	topic := testenv.UniqueName(t, "ordered")
	order := map[string]Ordering{"get": Read, "slow_get": Read, "ping": Unordered}
	s := &orderedServer{blocking: make(chan struct{}, 1), release: make(chan struct{})}
	s.srv = tr.NewServer(ServerConfig{Topic: topic, Version: "1.3",
		Order: func(m string) Ordering { return order[m] }}) // unknown → Write
	write := func(fn func()) func(context.Context, Context, echoArgs) (Void, error) {
		return func(context.Context, Context, echoArgs) (Void, error) {
			if s.reads.Load() > 0 {
				s.writesBeside.Add(1)
			}
			fn()
			s.n.Add(1)
			return Void{}, nil
		}
	}
	Register(s.srv, "put", write(func() { time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond) }))
	Register(s.srv, "block", write(func() { s.blocking <- struct{}{}; <-s.release }))
	Register(s.srv, "get", func(context.Context, Context, echoArgs) (int64, error) { return s.n.Load(), nil })
	Register(s.srv, "slow_get", func(context.Context, Context, echoArgs) (int64, error) {
		n := s.reads.Add(1)
		defer s.reads.Add(-1)
		for m := s.maxReads.Load(); n > m && !s.maxReads.CompareAndSwap(m, n); m = s.maxReads.Load() {
		}
		<-s.release
		return s.n.Load(), nil
	})
	Register(s.srv, "ping", func(context.Context, Context, echoArgs) (bool, error) { return true, nil })
	if err := s.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.cli = tr.Client(Target{Topic: topic, Version: "1.3"}, nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.srv.Stop(ctx)
	})
	t.Cleanup(s.unblock) // runs first: a failed test leaves no handler blocked
	return s
}

// TestOrderedNoStaleRead: casts followed at once by a call; the call sees every cast sent before it.
func TestOrderedNoStaleRead(t *testing.T) {
	s := startOrderedServer(t)
	const rounds, writes = 100, 5
	stale := 0
	for i := range rounds {
		s.cast(t, "put", writes)
		got, err := s.call("get")
		if err != nil {
			t.Fatal(err)
		}
		if want := int64((i + 1) * writes); got != want {
			stale++
			t.Errorf("round %d: get saw %d writes, want %d", i, got, want)
		}
	}
	if stale > 0 {
		t.Fatalf("%d stale reads in %d rounds", stale, rounds)
	}
	if s.n.Load() != rounds*writes {
		t.Fatalf("%d writes handled, want %d", s.n.Load(), rounds*writes)
	}
}

// TestOrderedReadsShareWritesWait: two reads run at once; a write sent after them waits for both, and a read
// sent after that write waits for it and sees it.
func TestOrderedReadsShareWritesWait(t *testing.T) {
	s := startOrderedServer(t)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n, err := s.call("slow_get"); err != nil || n != 0 {
				t.Errorf("slow_get: %d, %v (want 0: the later write must wait)", n, err)
			}
		}()
	}
	waitFor(t, func() bool { return s.reads.Load() == 2 })
	s.cast(t, "put", 1)
	got := s.getLater(t)
	time.Sleep(300 * time.Millisecond)
	if s.n.Load() != 0 || len(got) != 0 {
		t.Fatalf("while two reads run: writes done %d, later read answered %d", s.n.Load(), len(got))
	}
	s.unblock()
	wg.Wait()
	if n := <-got; n != 1 {
		t.Fatalf("the read after the write saw %d writes, want 1", n)
	}
	if s.maxReads.Load() != 2 || s.writesBeside.Load() != 0 {
		t.Fatalf("max reads at once %d (want 2), writes beside a read %d (want 0)", s.maxReads.Load(), s.writesBeside.Load())
	}
}

// TestOrderedUnorderedPasses: while a write holds its turn, an unordered ping answers at once and a read waits.
func TestOrderedUnorderedPasses(t *testing.T) {
	s := startOrderedServer(t)
	s.cast(t, "block", 1)
	<-s.blocking
	// writes waiting behind it do not hold the reader up: unordered messages are still taken and answered
	s.cast(t, "put", 3)
	got := s.getLater(t)
	for range 3 {
		var ok bool
		if err := s.cli.Call(context.Background(), Context{}, "ping", echoArgs{Text: "p"}, &ok, 5*time.Second); err != nil || !ok {
			t.Fatalf("ping while a write runs: %v %v", ok, err)
		}
	}
	if len(got) != 0 {
		t.Fatal("a read overtook a running write")
	}
	s.unblock()
	if n := <-got; n != 4 {
		t.Fatalf("the read saw %d writes, want 4", n)
	}
}

// TestOrderedStopFinishesTakenMessages: Stop waits for the running write and for the ordered messages already
// taken behind it; nothing taken is lost.
func TestOrderedStopFinishesTakenMessages(t *testing.T) {
	s := startOrderedServer(t)
	s.cast(t, "block", 1)
	<-s.blocking
	s.cast(t, "put", 1)
	waitFor(t, func() bool { return len(s.srv.backlog) == 2 }) // block and put taken
	stopped := make(chan error, 1)
	go func() { stopped <- s.srv.Stop(context.Background()) }()
	waitFor(t, s.srv.stopping.Load)
	s.unblock()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if s.n.Load() != 2 {
		t.Fatalf("%d writes handled before Stop returned, want 2", s.n.Load())
	}
}
