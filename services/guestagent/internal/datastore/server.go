package datastore

import (
	"context"
	"fmt"
	"time"

	"github.com/trove-go/trove/pkg/guestapi"
)

// Server is the lifecycle part of a Manager shared by the datastores: it runs the server process built by
// Command, waits until Ping succeeds, and derives the heartbeat status. Managers embed it.
type Server struct {
	Opts    Options
	Proc    *Process
	Command func() (Command, error)
	Ping    func(ctx context.Context) error
}

// Start starts the server and waits until it answers.
func (s *Server) Start(ctx context.Context) error {
	c, err := s.Command()
	if err != nil {
		return err
	}
	timeout := s.Opts.StartTimeout
	if timeout <= 0 {
		timeout = 180 * time.Second
	}
	// A server that exits at once is retried a few times: the processes of a server killed with the previous
	// agent may still be releasing the port, the socket or shared memory.
	for attempt := 1; ; attempt++ {
		if err := s.Proc.Start(c); err != nil {
			return err
		}
		ok := WaitFor(s.Proc, timeout, 100*time.Millisecond, func() bool {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return s.Ping(pctx) == nil
		})
		if ok {
			return nil
		}
		if s.Proc.State() == Alive || attempt == 5 {
			return fmt.Errorf("%s did not become ready (see %s)", s.Proc.Name, c.LogFile)
		}
		s.Opts.Log.Warnf("%s exited while starting; retrying", s.Proc.Name)
		time.Sleep(time.Duration(attempt) * time.Second)
	}
}

// Stop stops the server cleanly (killing it after 60 s).
func (s *Server) Stop(context.Context) error { return s.Proc.Stop(60 * time.Second) }

// Restart stops then starts the server.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(ctx); err != nil {
		return err
	}
	return s.Start(ctx)
}

// Status derives the heartbeat status: healthy when the server answers (blocked when the volume is full),
// running while it does not answer yet, crashed when it died on its own, shutdown when stopped.
func (s *Server) Status(ctx context.Context) Status {
	switch s.Proc.State() {
	case Alive:
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if s.Ping(pctx) != nil {
			return Running
		}
		if over, _ := s.Opts.Volume.Over(); over {
			return Blocked
		}
		return Healthy
	case Died:
		return Crashed
	}
	return Shutdown
}

// VolumeStats reports the data volume.
func (s *Server) VolumeStats(context.Context) (guestapi.FilesystemStats, error) {
	return s.Opts.Volume.Stats()
}
