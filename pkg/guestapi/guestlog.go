package guestapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/trove-go/trove/pkg/rpc"
)

// Guest log methods (Trove's guest_log_list / guest_log_action: calls, high timeout, version 1.0).
const (
	MethodGuestLogList   = "guest_log_list"
	MethodGuestLogAction = "guest_log_action"
)

// Guest log types (Trove's guest_log.LogType): USER logs can be enabled and disabled, SYS logs are always on
// and only admins see them unless [<manager>] guest_log_exposed_logs names them.
const (
	LogTypeUser = "USER"
	LogTypeSys  = "SYS"
)

// Guest log statuses (Trove's guest_log.LogStatus, '_' shown as ' ').
const (
	LogDisabled        = "Disabled"
	LogEnabled         = "Enabled"
	LogUnavailable     = "Unavailable"
	LogReady           = "Ready"
	LogPublished       = "Published"
	LogPartial         = "Partial"
	LogRotated         = "Rotated"
	LogRestartRequired = "Restart Required"
)

// GuestLog is Trove's log dict (GuestLog.show(), rendered by the API's GuestLogView unchanged). Container and
// prefix are the string "None" until something is published, as Trove's guest says.
type GuestLog struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Published int64  `json:"published"`
	Pending   int64  `json:"pending"`
	Container string `json:"container"`
	Prefix    string `json:"prefix"`
	Metafile  string `json:"metafile"`
}

// LogFlag is one of guest_log_action's enable/disable/publish/discard: Trove's API passes the request body's
// value through (python-troveclient sends 1, other clients true), so a boolean, a number (non-zero: set) or
// null are read; it is sent as a boolean.
type LogFlag bool

// UnmarshalJSON reads a boolean, a number or null.
func (f *LogFlag) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		*f = false
	case bool:
		*f = LogFlag(x)
	case float64:
		*f = x != 0
	default:
		return fmt.Errorf("want a boolean or 0/1, got %s", b)
	}
	return nil
}

// GuestLogActionArgs is guest_log_action (call, high).
type GuestLogActionArgs struct {
	LogName string  `json:"log_name"`
	Enable  LogFlag `json:"enable"`
	Disable LogFlag `json:"disable"`
	Publish LogFlag `json:"publish"`
	Discard LogFlag `json:"discard"`
}

// Validate requires a log name and refuses enable with disable (Trove's guest: "Cannot enable and disable
// log").
func (a GuestLogActionArgs) Validate() error {
	if a.LogName == "" {
		return errors.New("log_name is required")
	}
	if a.Enable && a.Disable {
		//lint:ignore ST1005 Trove's message, shown to the tenant as it is
		return fmt.Errorf("Cannot enable and disable log '%s'.", shown(a.LogName))
	}
	return nil
}

// LogDef is one log a datastore's guest offers.
type LogDef struct {
	Name string
	Type string // LogTypeUser or LogTypeSys
}

// GuestLogDefs are the logs of a datastore manager's guest, as Trove's managers define them: MySQL and
// MariaDB have the general and slow-query logs (USER) and the server's error log (SYS); PostgreSQL has the
// general log (USER: every statement, and the slow ones); every guest has its own log, guest (SYS).
func GuestLogDefs(manager string) []LogDef {
	var defs []LogDef
	switch manager {
	case "mysql", "mariadb":
		defs = []LogDef{{"general", LogTypeUser}, {"slow_query", LogTypeUser}, {"error", LogTypeSys}}
	case "postgresql":
		defs = []LogDef{{"general", LogTypeUser}}
	}
	return append(defs, LogDef{"guest", LogTypeSys})
}

// GuestLogDef returns the log called name of manager's guest.
func GuestLogDef(manager, name string) (LogDef, bool) {
	for _, d := range GuestLogDefs(manager) {
		if d.Name == name {
			return d, true
		}
	}
	return LogDef{}, false
}

// DefaultExposedLogs is [<manager>] guest_log_exposed_logs' default (Trove's cfg.py): the logs a non-admin
// sees; "all" exposes every log.
func DefaultExposedLogs(manager string) []string {
	if manager == "postgresql" {
		return []string{"general"}
	}
	return []string{"general", "slow_query"}
}

// DefaultLongQueryMS is [<manager>] guest_log_long_query_time's default in milliseconds (Trove's cfg.py).
func DefaultLongQueryMS(manager string) int {
	if manager == "postgresql" {
		return 0
	}
	return 1000
}

// LogExposed reports whether a log is visible to a caller: an admin sees every log, anyone else those
// exposed names (Trove's GuestLog.exposed).
func LogExposed(name string, exposed []string, admin bool) bool {
	if admin {
		return true
	}
	for _, e := range exposed {
		if e == name || e == "all" {
			return true
		}
	}
	return false
}

// GuestLogList calls guest_log_list (high).
func (c *Client) GuestLogList(ctx context.Context, rc rpc.Context) ([]GuestLog, error) {
	var r []GuestLog
	err := c.call(ctx, rc, MethodGuestLogList, NoArgs{}, &r, c.High)
	if r == nil {
		r = []GuestLog{}
	}
	return r, err
}

// GuestLogAction calls guest_log_action (high).
func (c *Client) GuestLogAction(ctx context.Context, rc rpc.Context, a GuestLogActionArgs) (GuestLog, error) {
	var r GuestLog
	err := c.call(ctx, rc, MethodGuestLogAction, a, &r, c.High)
	return r, err
}
