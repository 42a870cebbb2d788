package main

import (
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestServePprofBind(t *testing.T) {
	log := logrus.NewEntry(logrus.New())
	log.Logger.SetOutput(io.Discard)
	tests := []struct {
		bind    string
		wantErr bool
	}{
		{"", false},
		{"127.0.0.1:0", false},
		{"[::1]:0", false},
		{"0.0.0.0:0", true},
		{"localhost:0", true}, // names are refused: only a literal loopback address
		{"10.1.2.3:6060", true},
		{"127.0.0.1", true},
	}
	for _, tc := range tests {
		t.Run(tc.bind, func(t *testing.T) {
			stop, err := servePprof(tc.bind, log)
			if (err != nil) != tc.wantErr {
				t.Fatalf("servePprof(%q) error %v, want error %v", tc.bind, err, tc.wantErr)
			}
			if stop != nil {
				stop()
			}
		})
	}
}

func TestServePprofServesProfiles(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stop, err := servePprof(addr, logrus.NewEntry(logrus.New()))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /debug/pprof/cmdline: %d", resp.StatusCode)
	}
}
