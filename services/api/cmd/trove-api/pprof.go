package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/sirupsen/logrus"
)

// servePprof starts Go's profiling endpoints (/debug/pprof/…) on their own listener when [DEFAULT]
// debug_pprof_bind (ours, host:port, default off) is set. The address must be a loopback one: profiles expose
// the process's memory and timings, so they are never served on the API's port or off the machine.
func servePprof(bind string, log *logrus.Entry) (func(), error) {
	if bind == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return nil, fmt.Errorf("debug_pprof_bind %q: %w", bind, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("debug_pprof_bind %q: must be a loopback address", bind)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("debug_pprof_bind: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.WithField("address", ln.Addr().String()).Warn("pprof endpoints enabled (debug_pprof_bind)")
	return func() { srv.Close() }, nil
}
