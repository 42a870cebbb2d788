// Package flows runs the taskmanager's instance flows (create, delete, restart, resize volume) as steps over
// catalog rows. Every step checks the row before acting, so a flow interrupted by a crash is resumed (or failed
// with a readable fault) when the taskmanager starts again; no instance stays BUILD forever.
package flows

import (
	"fmt"
	"os"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/guestapi"
)

// Config is the part of trove.conf the flows use (Trove's option names, states.md §8).
type Config struct {
	UsageTimeout      time.Duration // [DEFAULT] usage_timeout: create → running/healthy deadline
	UsageSleepTime    time.Duration // [DEFAULT] usage_sleep_time: poll interval while building
	AgentCallLow      time.Duration // [DEFAULT] agent_call_low_timeout
	AgentCallHigh     time.Duration // [DEFAULT] agent_call_high_timeout
	VolumeTimeout     time.Duration // [DEFAULT] volume_time_out
	GuestConfigFile   string        // [DEFAULT] guest_config: copied into the guest as trove-guestagent.conf
	InstRPCKeyEncrKey string        // [DEFAULT] inst_rpc_key_encr_key: unwraps instances.encrypted_key
	// EnableSecureRPC is [DEFAULT] enable_secure_rpc_messaging: an upgrade gives a keyless instance a key.
	EnableSecureRPC bool
	// Envelope is ours, [DEFAULT] instance_rpc_envelope: the envelope recorded for instances keyed by this
	// taskmanager (aead for our Go guests, trove for Python guest images). "" means aead.
	Envelope string
	// RotationOverlap is ours, [DEFAULT] rpc_key_rotation_overlap: how long a rotated-out key stays accepted.
	RotationOverlap time.Duration
	// GuestCap is [upgrade_levels] guestagent: the highest guest RPC version sent to guests other than ours
	// (guestapi.CapFrom; zero: latest).
	GuestCap guestapi.Cap
	// RetryBudget is how many times a step failing for a reason of ours (broker, compute, catalog hiccup) is
	// tried before the flow records the failure; RetryDelay the pause between tries.
	RetryBudget int
	RetryDelay  time.Duration

	// Backups: HeartbeatExpiry is [DEFAULT] agent_heartbeat_expiry (a running backup whose guest is silent
	// longer fails); BackupPollInterval (ours, [taskmanager] backup_poll_interval) how often a running backup is
	// checked; Region ([DEFAULT] os_region_name) and SwiftEndpointType ([DEFAULT] swift_endpoint_type) pick
	// the project's object-store endpoint from the caller's catalog.
	HeartbeatExpiry    time.Duration
	BackupPollInterval time.Duration
	Region             string
	SwiftEndpointType  string

	// Backup schedules (schedule.go): StorageStrategy is [DEFAULT] storage_strategy (a scheduled backup's
	// driver, as trove-api records it), BackupSwiftContainer [DEFAULT] backup_swift_container; SchedulePoll
	// (ours, [taskmanager] backup_schedule_poll_interval) how often due schedules are looked for.
	StorageStrategy      string
	BackupSwiftContainer string
	SchedulePoll         time.Duration

	// Restore drills (drill.go): DrillsEnabled is ours, [taskmanager] restore_drills_enabled (off: this
	// taskmanager runs no drill, whatever drills instances have); DrillPoll ([taskmanager]
	// restore_drill_poll_interval) how often due drills are looked for.
	DrillsEnabled bool
	DrillPoll     time.Duration

	// Automatic failover (ours, failover.go): AutoFailover is [taskmanager] auto_failover (off by default);
	// FailoverTimeout ([taskmanager] auto_failover_timeout) how long a source's database must be unreachable
	// and its guest silent before it is failed over; FailoverPoll ([taskmanager] auto_failover_poll_interval)
	// how often the sources are checked.
	AutoFailover    bool
	FailoverTimeout time.Duration
	FailoverPoll    time.Duration

	// Quotas are the default hard limits (max_instances_per_tenant, …): a scheduled backup takes a backups quota
	// as trove-api's would, and dbaas.quota reports the limits.
	Quotas catalog.Defaults
}

// ConfigFrom reads the flow options with Trove's defaults.
func ConfigFrom(f *config.File) Config {
	return Config{
		UsageTimeout:       f.Seconds("DEFAULT", "usage_timeout", 1800),
		UsageSleepTime:     f.Seconds("DEFAULT", "usage_sleep_time", 5),
		AgentCallLow:       f.Seconds("DEFAULT", "agent_call_low_timeout", 15),
		AgentCallHigh:      f.Seconds("DEFAULT", "agent_call_high_timeout", 180),
		VolumeTimeout:      f.Seconds("DEFAULT", "volume_time_out", 60),
		GuestConfigFile:    f.String("DEFAULT", "guest_config", "/etc/trove/trove-guestagent.conf"),
		InstRPCKeyEncrKey:  f.String("DEFAULT", "inst_rpc_key_encr_key", "emYjgHFqfXNB1NGehAFIUeoyw4V4XwWHEaKP"),
		EnableSecureRPC:    f.Bool("DEFAULT", "enable_secure_rpc_messaging", true),
		Envelope:           f.String("DEFAULT", "instance_rpc_envelope", "aead"),
		RotationOverlap:    f.Seconds("DEFAULT", "rpc_key_rotation_overlap", DefaultRotationOverlap.Seconds()),
		RetryBudget:        f.Int("taskmanager", "retry_budget", 5),
		RetryDelay:         f.Seconds("taskmanager", "retry_delay", 2),
		HeartbeatExpiry:    f.Seconds("DEFAULT", "agent_heartbeat_expiry", 90),
		BackupPollInterval: f.Seconds("taskmanager", "backup_poll_interval", 2),
		Region:             f.String("DEFAULT", "os_region_name", ""),
		SwiftEndpointType:  f.String("DEFAULT", "swift_endpoint_type", "publicURL"),

		StorageStrategy:      f.String("DEFAULT", "storage_strategy", "swift"),
		BackupSwiftContainer: f.String("DEFAULT", "backup_swift_container", "database_backups"),
		SchedulePoll:         f.Seconds("taskmanager", "backup_schedule_poll_interval", 30),
		DrillsEnabled:        f.Bool("taskmanager", "restore_drills_enabled", false),
		DrillPoll:            f.Seconds("taskmanager", "restore_drill_poll_interval", 60),

		AutoFailover:    f.Bool("taskmanager", "auto_failover", false),
		FailoverTimeout: f.Seconds("taskmanager", "auto_failover_timeout", 15),
		FailoverPoll:    f.Seconds("taskmanager", "auto_failover_poll_interval", 2),

		Quotas: catalog.QuotaDefaultsFrom(f),
	}
}

// envelope is the envelope for keys this taskmanager gives.
func (c Config) envelope() string {
	if c.Envelope == "trove" {
		return "trove"
	}
	return "aead"
}

// guestConfig returns the controller's guest configuration file, or "" when it does not exist (Trove then
// injects nothing).
func (c Config) guestConfig() (string, error) {
	b, err := os.ReadFile(c.GuestConfigFile)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading guest_config %s: %w", c.GuestConfigFile, err)
	}
	return string(b), nil
}
