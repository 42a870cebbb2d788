// Package conductorapi is the typed conductor RPC interface (rpc.md §B.4): guest (and taskmanager) → conductor,
// all casts, version 1.0, on topic [DEFAULT] conductor_queue.
package conductorapi

import (
	"errors"
	"fmt"
	"time"
)

// Version is the conductor endpoint version.
const Version = "1.0"

// DefaultTopic is [DEFAULT] conductor_queue's default.
const DefaultTopic = "trove-conductor"

// Method names.
const (
	MethodHeartbeat     = "heartbeat"
	MethodUpdateBackup  = "update_backup"
	MethodReportRoot    = "report_root"
	MethodNotifyEnd     = "notify_end"
	MethodNotifyExcInfo = "notify_exc_info"
)

// Statuses are the heartbeat descriptions the conductor maps by exact text (rpc.md §B.5, states.md §1.2).
var Statuses = map[string]bool{
	"running": true, "blocked": true, "paused": true, "shutdown": true, "crashed": true,
	"failed to spawn": true, "building": true, "promoting replica": true, "ejecting replica source": true,
	"transferring guest logs": true, "unknown": true, "new": true, "deleted": true, "guestagent error": true,
	"instance ready": true, "restart required": true, "healthy": true, "upgrading": true, "restarting": true,
}

// Sent renders t as Trove's `sent`: epoch seconds with microseconds.
func Sent(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// HeartbeatPayload is heartbeat's payload. Health is ours: Trove's conductor reads only service_status and
// ignores other keys, and our conductor takes heartbeats without it (Trove's guests).
type HeartbeatPayload struct {
	ServiceStatus string  `json:"service_status"`
	Health        *Health `json:"health,omitempty"`
}

// Health is the database's health as the guest saw it when it heartbeated: whether it answers, its client
// connections, and on a replica how far it is behind its source (seconds; absent on a source or standalone).
type Health struct {
	Up             bool     `json:"up"`
	Connections    int      `json:"connections"`
	ReplicationLag *float64 `json:"replication_lag_seconds,omitempty"`
}

// HeartbeatArgs is heartbeat.
type HeartbeatArgs struct {
	InstanceID string           `json:"instance_id"`
	Payload    HeartbeatPayload `json:"payload"`
	Sent       float64          `json:"sent"`
}

// Validate requires an instance and a known status description.
func (a HeartbeatArgs) Validate() error {
	if a.InstanceID == "" {
		return errors.New("instance_id is required")
	}
	if !Statuses[a.Payload.ServiceStatus] {
		return fmt.Errorf("unknown service status %q", a.Payload.ServiceStatus)
	}
	return nil
}

// UpdateBackupArgs is update_backup; nil fields are not sent.
type UpdateBackupArgs struct {
	InstanceID string   `json:"instance_id"`
	BackupID   string   `json:"backup_id"`
	Sent       float64  `json:"sent"`
	Size       *float64 `json:"size,omitempty"`
	State      *string  `json:"state,omitempty"`
	BackupType *string  `json:"backup_type,omitempty"`
	Checksum   *string  `json:"checksum,omitempty"`
	Location   *string  `json:"location,omitempty"`
	Success    *bool    `json:"success,omitempty"`
	// ContentManifest (ours): with COMPLETED, the JSON text of guestapi.ContentManifest — the user databases'
	// tables when the backup completed, for restore drills. A string, not an object: Trove's conductor sets
	// every field the backups row has, and a catalog our trove-manage migrated has this column.
	ContentManifest *string `json:"content_manifest,omitempty"`
}

// Validate requires the instance and backup.
func (a UpdateBackupArgs) Validate() error {
	if a.InstanceID == "" || a.BackupID == "" {
		return errors.New("instance_id and backup_id are required")
	}
	return nil
}

// ReportRootArgs is report_root (legacy `user` accepted, ignored).
type ReportRootArgs struct {
	InstanceID string  `json:"instance_id"`
	User       *string `json:"user,omitempty"`
}

// Validate requires an instance.
func (a ReportRootArgs) Validate() error {
	if a.InstanceID == "" {
		return errors.New("instance_id is required")
	}
	return nil
}

// NotifyEndArgs is notify_end.
type NotifyEndArgs struct {
	SerializedNotification map[string]any `json:"serialized_notification"`
	NotificationArgs       map[string]any `json:"notification_args"`
}

// Validate requires the notification class.
func (a NotifyEndArgs) Validate() error { return validateNotification(a.SerializedNotification) }

// NotifyExcInfoArgs is notify_exc_info.
type NotifyExcInfoArgs struct {
	SerializedNotification map[string]any `json:"serialized_notification"`
	Message                string         `json:"message"`
	Exception              []string       `json:"exception"`
}

// Validate requires the notification class.
func (a NotifyExcInfoArgs) Validate() error { return validateNotification(a.SerializedNotification) }

func validateNotification(n map[string]any) error {
	if s, _ := n["notification_classname"].(string); s == "" {
		return errors.New("serialized_notification.notification_classname is required")
	}
	return nil
}
