package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/testenv"
)

// pythonOslo is Debian's interpreter, the one with python3-oslo.messaging (pyenv's python3 lacks it).
const pythonOslo = "/usr/bin/python3"

type noArgs struct{}

func (noArgs) Validate() error { return nil }

func runPython(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pythonOslo, append([]string{"testdata/interop.py"}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("interop.py %s: %v\n%s", args[0], err, ee.Stderr)
		}
		t.Fatalf("interop.py %s: %v", args[0], err)
	}
	return out
}

// TestPythonClientGoServer: a real oslo.messaging client (plaintext and Trove SecureSerializer) calls and casts
// to a Go server.
func TestPythonClientGoServer(t *testing.T) {
	for _, key := range []string{"", vecInstKey} {
		t.Run(fmt.Sprintf("key=%t", key != ""), func(t *testing.T) {
			tr := newTransport(t)
			topic := testenv.UniqueName(t, "py-to-go")
			srv := tr.NewServer(ServerConfig{Topic: topic, Server: "go-host", Version: "1.3", Codec: TroveCodec(key)})
			casts := make(chan string, 4)
			Register(srv, "echo", func(_ context.Context, rc Context, a echoArgs) (map[string]any, error) {
				return map[string]any{"text": a.Text, "request_id": rc.RequestID, "roles": rc.Roles}, nil
			})
			Register(srv, "fail", func(context.Context, Context, noArgs) (Void, error) {
				return Void{}, Errorf("builtins.ValueError", "bad value from go")
			})
			Register(srv, "note", func(_ context.Context, _ Context, a echoArgs) (Void, error) {
				casts <- a.Text
				return Void{}, nil
			})
			if err := srv.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer srv.Stop(context.Background())
			var out struct {
				Echo   map[string]any    `json:"echo"`
				Fail   map[string]string `json:"fail"`
				NoSuch map[string]string `json:"nosuch"`
			}
			b := runPython(t, "client", testenv.TransportURL(t), tr.Exchange(), topic, key)
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatalf("python output %s: %v", b, err)
			}
			if out.Echo["text"] != "from python" || out.Echo["request_id"] != "req-python-1" || fmt.Sprint(out.Echo["roles"]) != "[admin]" {
				t.Errorf("echo = %v", out.Echo)
			}
			if out.Fail["exc_type"] != "ValueError" || out.Fail["value"] != "bad value from go" {
				t.Errorf("fail = %v, want a rebuilt builtins.ValueError", out.Fail)
			}
			if out.NoSuch["exc_type"] != "NoSuchMethod" {
				t.Errorf("nosuch = %v", out.NoSuch)
			}
			got := map[string]bool{<-casts: true, <-casts: true}
			if !got["cast-1"] || !got["cast-2"] {
				t.Errorf("casts = %v", got)
			}
		})
	}
}

// TestGoClientPythonServer: a Go client calls and casts to a real oslo.messaging server.
func TestGoClientPythonServer(t *testing.T) {
	for _, key := range []string{"", vecInstKey} {
		t.Run(fmt.Sprintf("key=%t", key != ""), func(t *testing.T) {
			tr := newTransport(t)
			topic := testenv.UniqueName(t, "go-to-py")
			stderr := testenv.PythonPeer(t, "testdata/interop.py", "server", testenv.TransportURL(t), tr.Exchange(), topic, key)
			cli := tr.Client(Target{Topic: topic, Version: "1.3"}, TroveCodec(key))
			rc := Context{RequestID: "req-go-1", Roles: []string{"member"}}
			var echo struct {
				Text      string   `json:"text"`
				RequestID string   `json:"request_id"`
				Roles     []string `json:"roles"`
			}
			if err := cli.Call(context.Background(), rc, "echo", echoArgs{Text: "from go"}, &echo, 15*time.Second); err != nil {
				t.Fatalf("echo: %v\n%s", err, stderr())
			}
			if echo.Text != "from go" || echo.RequestID != "req-go-1" || fmt.Sprint(echo.Roles) != "[member]" {
				t.Errorf("echo = %+v", echo)
			}
			err := cli.Call(context.Background(), rc, "fail", nil, nil, 15*time.Second)
			if !errors.Is(err, &RemoteError{Class: "ValueError", Module: ModuleBuiltins}) || !strings.Contains(err.Error(), "bad value from python") {
				t.Errorf("fail: %v", err)
			}
			err = cli.Call(context.Background(), rc, "nope", nil, nil, 15*time.Second)
			if !errors.Is(err, &RemoteError{Class: "NoSuchMethod", Module: ModuleDispatcher}) {
				t.Errorf("nope: %#v", err)
			}
			old := tr.Client(Target{Topic: topic, Version: "1.4"}, TroveCodec(key))
			if err := old.Call(context.Background(), rc, "echo", echoArgs{Text: "x"}, nil, 15*time.Second); Kind(err) != "UnsupportedVersion" {
				t.Errorf("version 1.4: %v", err)
			}
			for _, s := range []string{"cast-1", "cast-2"} {
				if err := cli.Cast(context.Background(), rc, "note", echoArgs{Text: s}); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, func() bool {
				var notes []string
				err := cli.Call(context.Background(), rc, "notes", nil, &notes, 15*time.Second)
				return err == nil && len(notes) == 2
			})
		})
	}
}

type heartbeatArgs struct {
	InstanceID string `json:"instance_id"`
	Payload    struct {
		ServiceStatus string `json:"service_status"`
	} `json:"payload"`
	Sent float64 `json:"sent"`
}

func (a heartbeatArgs) Validate() error {
	if a.InstanceID == "" {
		return errors.New("instance_id is required")
	}
	return nil
}

// TestPythonGuestGoConductor: Trove's ConductorGuestSerializer (Python) → ConductorHostCodec (Go).
func TestPythonGuestGoConductor(t *testing.T) {
	tr := newTransport(t)
	topic := testenv.UniqueName(t, "trove-conductor")
	const inst = "0a1b2c3d-0000-4000-8000-00000000abcd"
	host := ConductorHostCodec(lookupOf(map[string]PeerKeys{inst: {keyring.Single(vecInstKey), EnvelopeTrove}}))
	srv := tr.NewServer(ServerConfig{Topic: topic, Version: "1.0", Codec: host})
	got := make(chan heartbeatArgs, 1)
	senders := make(chan string, 1)
	Register(srv, "heartbeat", func(_ context.Context, rc Context, a heartbeatArgs) (Void, error) {
		senders <- rc.SenderInstanceID
		got <- a
		return Void{}, nil
	})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	runPython(t, "conductor-client", testenv.TransportURL(t), tr.Exchange(), topic, vecInstKey, inst)
	a := <-got
	if s := <-senders; s != inst || a.InstanceID != inst || a.Payload.ServiceStatus != "healthy" || a.Sent != 1767607202.123456 {
		t.Fatalf("heartbeat %+v from %q", a, s)
	}
}
