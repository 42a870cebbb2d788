package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/testenv"
)

// BenchmarkCallRoundTrip measures sequential Call latency through the real broker (client and server in one
// process, plaintext), reporting p50 and p99.
//
//	go test -run XXX -bench CallRoundTrip ./pkg/rpc
func BenchmarkCallRoundTrip(b *testing.B) {
	for _, c := range []struct {
		name  string
		codec func() Codec
	}{
		{"plain", PlainCodec},
		{"trove", func() Codec { return TroveCodec(vecInstKey) }},
		{"aead", func() Codec { return AEADCodec(keyring.Single(vecInstKey), vecInstance) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			tr := newTransport(b)
			topic := testenv.UniqueName(b, "bench-call")
			srv := tr.NewServer(ServerConfig{Topic: topic, Version: "1.3", Codec: c.codec()})
			Register(srv, "echo", func(_ context.Context, _ Context, a echoArgs) (echoResult, error) {
				return echoResult{Text: a.Text}, nil
			})
			if err := srv.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer srv.Stop(context.Background())
			cli := tr.Client(Target{Topic: topic, Version: "1.3"}, c.codec())
			rc := Context{RequestID: "req-bench", Roles: []string{"admin"}}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				var res echoResult
				if err := cli.Call(context.Background(), rc, "echo", echoArgs{Text: "ping"}, &res, 10*time.Second); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkHeartbeatConsume measures how many encrypted heartbeat casts (guest → conductor shape, rpc.md §C.5)
// one conductor-side server consumes per second: b.N casts are queued first (untimed), then a server with
// ConductorHostCodec drains them. Use a fixed count, e.g.
//
//	go test -run XXX -bench HeartbeatConsume -benchtime 20000x ./pkg/rpc
func BenchmarkHeartbeatConsume(b *testing.B) {
	const inst = "5f1c3a2e-8d4b-4c1e-9a7f-0b2c3d4e5f60"
	for _, env := range []Envelope{EnvelopeNone, EnvelopeTrove, EnvelopeAEAD} {
		b.Run("envelope="+string(env), func(b *testing.B) {
			tr := newTransport(b)
			topic := testenv.UniqueName(b, "bench-conductor")
			peer := PeerKeys{keyring.Single(vecInstKey), env}
			if env == EnvelopeNone {
				peer = PeerKeys{}
			}
			host := ConductorHostCodec(lookupOf(map[string]PeerKeys{inst: peer}))
			srv := tr.NewServer(ServerConfig{Topic: topic, Version: "1.0", Codec: host, Concurrency: 8})
			var wg sync.WaitGroup
			wg.Add(b.N)
			Register(srv, "heartbeat", func(_ context.Context, rc Context, a heartbeatArgs) (Void, error) {
				if (env != EnvelopeNone && rc.SenderInstanceID != inst) || a.Payload.ServiceStatus != "healthy" {
					return Void{}, fmt.Errorf("bad heartbeat %+v", a)
				}
				wg.Done()
				return Void{}, nil
			})
			// declare the queues, then stop consuming so the casts pile up
			if err := srv.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			srv.Stop(context.Background())
			cli := tr.Client(Target{Topic: topic, Version: "1.0"}, ConductorGuestCodec(inst, vecInstKey, env))
			var pub sync.WaitGroup
			work := make(chan int)
			for range 32 {
				pub.Add(1)
				go func() {
					defer pub.Done()
					for range work {
						a := heartbeatArgs{InstanceID: inst, Sent: float64(time.Now().UnixMicro()) / 1e6}
						a.Payload.ServiceStatus = "healthy"
						if err := cli.Cast(context.Background(), Context{RequestID: "req-hb"}, "heartbeat", a); err != nil {
							b.Error(err)
						}
					}
				}()
			}
			for i := range b.N {
				work <- i
			}
			close(work)
			pub.Wait()
			srv2 := tr.NewServer(ServerConfig{Topic: topic, Version: "1.0", Codec: host, Concurrency: 8})
			srv2.hs = srv.hs
			b.ResetTimer()
			start := time.Now()
			if err := srv2.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "casts/s")
			b.StopTimer()
			srv2.Stop(context.Background())
		})
	}
}

// BenchmarkDispatch is the CPU cost of one heartbeat on the conductor side without the broker: envelope
// parsing, decryption, context and argument decoding, handler call.
func BenchmarkDispatch(b *testing.B) {
	const inst = "5f1c3a2e-8d4b-4c1e-9a7f-0b2c3d4e5f60"
	for _, env := range []Envelope{EnvelopeTrove, EnvelopeAEAD} {
		b.Run(string(env), func(b *testing.B) {
			host := ConductorHostCodec(lookupOf(map[string]PeerKeys{inst: {keyring.Single(vecInstKey), env}}))
			tr := &Transport{log: testLog(b)}
			srv := tr.NewServer(ServerConfig{Topic: "t", Codec: host})
			Register(srv, "heartbeat", func(_ context.Context, rc Context, a heartbeatArgs) (Void, error) { return Void{}, nil })
			cli := ConductorGuestCodec(inst, vecInstKey, env)
			bodies := make([][]byte, b.N)
			for i := range bodies {
				a := heartbeatArgs{InstanceID: inst, Sent: 1.5}
				a.Payload.ServiceStatus = "healthy"
				am, _ := argMap(a)
				rc, _ := json.Marshal(Context{RequestID: "r"})
				wa, wc, _ := cli.EncodeRequest(Meta{Topic: "t", Method: "heartbeat"}, am, rc)
				bodies[i], _ = encodeRequest(request{Method: "heartbeat", Version: "1.0", UniqueID: hexID(), Args: wa, Ctx: wc})
			}
			b.ResetTimer()
			for i := range b.N {
				srv.dispatch(bodies[i])
			}
			if srv.Handled() != uint64(b.N) {
				b.Fatal("not handled", srv.Handled())
			}
		})
	}
}
