package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// fakeDocker is a stand-in for the Docker Engine API that Trove's Python guest agent (Zed and later) drives its
// database container through: the API version probe, inspecting the container named "database", its logs,
// start/stop/restart and `docker exec` (create, start with Docker's multiplexed raw stream, inspect). There is no
// container: the test sets the state the guest reads, and whether commands run in it succeed. Only the Python guest
// agent of the e2e tests talks to it, over a unix socket of the test's own (DOCKER_HOST), so no Docker is needed.
type fakeDocker struct {
	t    *testing.T
	sock string

	mu       sync.Mutex
	state    string // the container's State.Status: running, exited, paused, dead, restarting
	execExit int    // exit code of every exec
	calls    []string
	execs    map[string]string // exec id → command
}

var dockerVersionPrefix = regexp.MustCompile(`^/v1\.[0-9]+`)

func newFakeDocker(t *testing.T) *fakeDocker {
	t.Helper()
	dir, err := os.MkdirTemp("", "fakedocker")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &fakeDocker{t: t, sock: filepath.Join(dir, "docker.sock"), state: "running", execs: map[string]string{}}
	l, err := net.Listen("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return d
}

// set changes the container state the guest sees and the exit code of commands run in it.
func (d *fakeDocker) set(state string, execExit int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.state, d.execExit = state, execExit
}

// called reports whether a request "METHOD /path" (version prefix removed) was made.
func (d *fakeDocker) called(methodPath string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.calls {
		if c == methodPath {
			return true
		}
	}
	return false
}

func (d *fakeDocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := dockerVersionPrefix.ReplaceAllString(r.URL.Path, "")
	d.mu.Lock()
	d.calls = append(d.calls, r.Method+" "+path)
	state, exit := d.state, d.execExit
	d.mu.Unlock()
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case path == "/_ping":
		w.Header().Set("Api-Version", "1.41")
		fmt.Fprint(w, "OK")
	case path == "/version":
		reply(200, map[string]any{"ApiVersion": "1.41", "MinAPIVersion": "1.12", "Version": "20.10.24", "Os": "linux", "Arch": "amd64"})
	case len(parts) == 3 && parts[0] == "containers" && parts[1] == "database" && parts[2] == "json" && r.Method == http.MethodGet:
		reply(200, map[string]any{
			"Id": "database", "Name": "/database", "Image": "fake",
			"State":  map[string]any{"Status": state, "Running": state == "running", "Paused": state == "paused", "Dead": state == "dead"},
			"Config": map[string]any{"Tty": false, "Image": "fake"},
		})
	case len(parts) == 3 && parts[0] == "containers" && parts[2] == "json":
		reply(404, map[string]any{"message": "No such container: " + parts[1]})
	case len(parts) == 3 && parts[0] == "containers" && parts[2] == "logs":
		w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
		w.WriteHeader(200)
	case len(parts) == 3 && parts[0] == "containers" && parts[2] == "exec" && r.Method == http.MethodPost:
		var body struct{ Cmd []string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		d.mu.Lock()
		id := fmt.Sprintf("exec%d", len(d.execs)+1)
		d.execs[id] = strings.Join(body.Cmd, " ")
		d.mu.Unlock()
		reply(201, map[string]any{"Id": id})
	case len(parts) == 3 && parts[0] == "exec" && parts[2] == "start":
		d.execStart(w)
	case len(parts) == 3 && parts[0] == "exec" && parts[2] == "json":
		reply(200, map[string]any{"ID": parts[1], "Running": false, "ExitCode": exit})
	case len(parts) == 3 && parts[0] == "containers" && (parts[2] == "start" || parts[2] == "stop" || parts[2] == "restart"):
		d.mu.Lock()
		if parts[2] == "stop" {
			d.state = "exited"
		} else {
			d.state = "running"
		}
		d.mu.Unlock()
		w.WriteHeader(204)
	default:
		reply(404, map[string]any{"message": "fake docker: not implemented: " + r.Method + " " + path})
	}
}

// execStart answers like dockerd: the connection is upgraded to a raw stream carrying one stdout frame, then closed.
func (d *fakeDocker) execStart(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijack", 500)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	out := []byte("1\n")
	hdr := make([]byte, 8)
	hdr[0] = 1 // stdout
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(out)))
	fmt.Fprint(buf, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	buf.Write(hdr)
	buf.Write(out)
	_ = buf.Flush()
}
