package api

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveTLS runs the env's API on a TLS listener of its own and returns its address.
func serveTLS(t *testing.T) string {
	t.Helper()
	certFile, keyFile := writeCert(t)
	e := newEnv(t, func(c *Config) {
		c.BindHost, c.BindPort, c.CertFile, c.KeyFile = "127.0.0.1", 0, certFile, keyFile
	})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- e.api.Serve(ctx, func(addr net.Addr) { addrc <- addr }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return (<-addrc).String()
}

// rawExchange writes a whole request (head, then body) before reading anything, as Python's http.client and
// curl without Expect do, and returns the response.
func rawExchange(t *testing.T, addr, head string, body []byte, chunked bool) (*http.Response, []byte, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		return nil, nil, fmt.Errorf("writing the head: %w", err)
	}
	if chunked {
		for len(body) > 0 {
			n := min(len(body), 32<<10)
			if _, err := fmt.Fprintf(conn, "%x\r\n%s\r\n", n, body[:n]); err != nil {
				return nil, nil, fmt.Errorf("writing a chunk: %w", err)
			}
			body = body[n:]
		}
		if _, err := io.WriteString(conn, "0\r\n\r\n"); err != nil {
			return nil, nil, err
		}
	} else if len(body) > 0 {
		if _, err := conn.Write(body); err != nil {
			return nil, nil, fmt.Errorf("writing the body: %w", err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the response: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// A body over max_request_body_size sent without Expect: 100-continue gets Trove's 413 fault, not a TLS EOF
// (issue 12); so do refusals that come before the body is read.
func TestOversizedBodiesGetAFault(t *testing.T) {
	addr := serveTLS(t)
	// Larger than what the kernel buffers on loopback: the server must read it, or the client's write fails.
	big := []byte(`{"instance": {"name": "` + strings.Repeat("a", 16<<20) + `"}}`)
	path := "/v1.0/" + projDemo + "/instances"
	head := func(extra string, length int) string {
		h := "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra
		if length >= 0 {
			h += fmt.Sprintf("Content-Length: %d\r\n", length)
		}
		return h + "\r\n"
	}
	cases := []struct {
		name    string
		head    string
		body    []byte
		chunked bool
		code    int
		fault   string
	}{
		{"over the limit", head("X-Auth-Token: demo\r\nContent-Type: application/json\r\n", len(big)), big, false, 413, "overLimit"},
		{"over the limit, chunked", head("X-Auth-Token: demo\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n", -1), big, true, 413, "overLimit"},
		{"no token", head("Content-Type: application/json\r\n", len(big)), big, false, 401, "error"},
		{"another project", strings.Replace(head("X-Auth-Token: demo\r\nContent-Type: application/json\r\n", len(big)), projDemo, projDemo2, 1),
			big, false, 403, "forbidden"},
		{"no content type", head("X-Auth-Token: demo\r\n", len(big)), big, false, 400, "badRequest"},
		{"wrong content type", head("X-Auth-Token: demo\r\nContent-Type: text/plain\r\n", len(big)), big, false, 415, "badMediaType"},
		// With Expect the body is never asked for: the answer comes at once.
		{"expect 100-continue", head("X-Auth-Token: demo\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n", len(big)), nil, false, 413, "overLimit"},
	}
	for _, c := range cases {
		resp, body, err := rawExchange(t, addr, c.head, c.body, c.chunked)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var fault map[string]map[string]any
		if resp.StatusCode != c.code || json.Unmarshal(body, &fault) != nil || fault[c.fault] == nil {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, body, c.code, c.fault)
		}
		if c.code != 401 && fault[c.fault] != nil && fault[c.fault]["code"] != float64(c.code) {
			t.Errorf("%s: fault %s", c.name, body)
		}
	}
}
