package rpc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/testenv"
)

// closeConnections force-closes, through rabbitmqctl, the broker connections of the given transports only (the
// broker is shared with other tests and services) and returns how many it closed.
func closeConnections(t *testing.T, trs ...*Transport) int {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", "-q", "list_connections", "--no-table-headers", "pid", "client_properties").Output()
	if err != nil {
		t.Fatalf("rabbitmqctl list_connections: %v (the fault tests need rabbitmqctl access to the test broker)", err)
	}
	var pids []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		pid, props, _ := strings.Cut(sc.Text(), "\t")
		for _, tr := range trs {
			if strings.Contains(props, `"`+tr.name+`"`) {
				pids = append(pids, pid)
			}
		}
	}
	errs := make(chan error, len(pids))
	for _, pid := range pids {
		go func() {
			out, err := exec.Command("rabbitmqctl", "-q", "close_connection", pid, "test").CombinedOutput()
			if err != nil {
				err = fmt.Errorf("rabbitmqctl close_connection %s: %v %s", pid, err, out)
			}
			errs <- err
		}()
	}
	for range pids {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return len(pids)
}

// TestReconnectKeepsAcknowledgedCasts force-closes the client's and the server's connections twice during a
// concurrent stream of casts and calls: every cast that Cast acknowledged reaches the handler, and the server's
// consumers and the client's reply queue come back by themselves.
func TestReconnectKeepsAcknowledgedCasts(t *testing.T) {
	client := newTransport(t)
	server := newTransportOn(t, client.Exchange())
	topic := testenv.UniqueName(t, "fault")
	srv := server.NewServer(ServerConfig{Topic: topic, Concurrency: 8})
	var mu sync.Mutex
	received := map[string]bool{}
	Register(srv, "note", func(_ context.Context, _ Context, a echoArgs) (Void, error) {
		mu.Lock()
		received[a.Text] = true
		mu.Unlock()
		return Void{}, nil
	})
	Register(srv, "echo", func(_ context.Context, _ Context, a echoArgs) (echoResult, error) {
		return echoResult{Text: a.Text}, nil
	})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	cli := client.Client(Target{Topic: topic}, nil)

	const senders = 4
	stop := make(chan struct{})
	var (
		acked     sync.Map
		nAcked    atomic.Int64
		nFailed   atomic.Int64
		callsOK   atomic.Int64
		wg        sync.WaitGroup
		streaming = make(chan struct{})
	)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				time.Sleep(time.Millisecond)
				id := fmt.Sprintf("%d-%d", s, i)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if err := cli.Cast(ctx, Context{}, "note", echoArgs{Text: id}); err == nil {
					acked.Store(id, true)
					nAcked.Add(1)
				} else {
					nFailed.Add(1)
				}
				cancel()
			}
		}()
	}
	go func() {
		for {
			select {
			case <-streaming:
				return
			default:
			}
			if cli.Call(context.Background(), Context{}, "echo", echoArgs{Text: "c"}, nil, 3*time.Second) == nil {
				callsOK.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	closed := 0
	for range 2 {
		at := nAcked.Load() + 200
		waitFor(t, func() bool { return nAcked.Load() >= at })
		closed += closeConnections(t, client, server)
	}
	at := nAcked.Load() + 200 // the stream goes on after the second fault
	waitFor(t, func() bool { return nAcked.Load() >= at })
	close(stop)
	wg.Wait()
	close(streaming)
	if closed < 4 {
		t.Fatalf("closed %d connections, want 2 per round", closed)
	}
	// consumers and the reply queue resumed by themselves
	var res echoResult
	if err := cli.Call(context.Background(), Context{}, "echo", echoArgs{Text: "after"}, &res, 30*time.Second); err != nil || res.Text != "after" {
		t.Fatalf("call after reconnects: %+v %v", res, err)
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		missing := 0
		acked.Range(func(k, _ any) bool {
			if !received[k.(string)] {
				missing++
			}
			return true
		})
		return missing == 0
	})
	t.Logf("casts acknowledged %d, failed (not acknowledged) %d, calls ok %d", nAcked.Load(), nFailed.Load(), callsOK.Load())
}

// brokerProxy forwards TCP to the real broker; down() drops every connection and refuses new ones (what
// clients see while RabbitMQ restarts), up() listens again on the same address.
type brokerProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newBrokerProxy(t *testing.T, target string) *brokerProxy {
	p := &brokerProxy{t: t, target: target}
	p.listen("127.0.0.1:0")
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.down)
	return p
}

func (p *brokerProxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listen %s: %v", addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
}

func (p *brokerProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *brokerProxy) up() { p.listen(p.addr) }

// TestBrokerOutage: the broker is unreachable for a while (connections dropped, dials refused); the transport
// keeps retrying with back-off, and once the broker is back the server consumes again and calls work, without
// any action from the application.
func TestBrokerOutage(t *testing.T) {
	u, err := url.Parse(testenv.TransportURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newBrokerProxy(t, u.Host)
	u.Host = proxy.addr
	direct := newTransport(t)
	cfg := testConfig(u.String(), direct.Exchange())
	cfg.RetryInterval, cfg.RetryBackoff = 200*time.Millisecond, 200*time.Millisecond
	viaProxy, err := Dial(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer viaProxy.Close()
	topic := testenv.UniqueName(t, "outage")
	srv, casts := echoServer(t, viaProxy, topic, "", PlainCodec())
	_ = srv
	cli := direct.Client(Target{Topic: topic}, nil)
	if err := cli.Call(context.Background(), Context{}, "echo", echoArgs{Text: "before"}, nil, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	proxy.down()
	// sent while the server is disconnected: the broker keeps it in the (persistent) topic queue
	if err := cli.Cast(context.Background(), Context{}, "note", echoArgs{Text: "during"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // let the transport fail a few dials
	proxy.up()
	if got := <-casts; got.Text != "during" {
		t.Fatalf("got %+v", got)
	}
	// and the proxied transport's own client side (reply queue) works again
	var res echoResult
	if err := viaProxy.Client(Target{Topic: topic}, nil).Call(context.Background(), Context{}, "echo", echoArgs{Text: "after"}, &res, 20*time.Second); err != nil || res.Text != "after" {
		t.Fatalf("call after outage: %+v %v", res, err)
	}
}
