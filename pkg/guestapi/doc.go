// Package guestapi is the typed guest-agent RPC interface (rpc.md §B.3): one args struct per method whose json
// tags are the oslo.messaging argument names, the payload shapes of §B.5 (schema and user dicts), result types,
// and Client, which sends each method with Trove's kind (call or cast) and timeout.
//
// Validate methods check what every datastore requires (shape, non-empty names); datastore-specific name and
// password rules are in ValidateDatabaseName / ValidateUserName / ValidatePassword so the API and the guest
// apply the same rules.
package guestapi

import "time"

// Version is our Go guest agent's endpoint version (rpc.md §A.6): it accepts every request version ≤ it (same
// major). Clients send each method with its own version (Peer.VersionFor, from the method → version table).
const Version = "1.3"

// Topic returns the guest's topic; its server name is the instance id too (rpc.md §B.1).
func Topic(instanceID string) string { return "guestagent." + instanceID }

// Default call timeouts: [DEFAULT] agent_call_low_timeout / agent_call_high_timeout (states.md §8).
const (
	DefaultLowTimeout  = 15 * time.Second
	DefaultHighTimeout = 180 * time.Second
)

// Method names (rpc.md §B.3).
const (
	MethodPrepare                = "prepare"
	MethodRestart                = "restart"
	MethodStopDB                 = "stop_db"
	MethodStartDBWithConfChanges = "start_db_with_conf_changes"
	MethodGetFilesystemStats     = "get_filesystem_stats"
	MethodResizeFS               = "resize_fs"
	MethodCreateDatabase         = "create_database"
	MethodListDatabases          = "list_databases"
	MethodDeleteDatabase         = "delete_database"
	MethodCreateUser             = "create_user"
	MethodListUsers              = "list_users"
	MethodGetUser                = "get_user"
	MethodUpdateAttributes       = "update_attributes"
	MethodDeleteUser             = "delete_user"
	MethodChangePasswords        = "change_passwords"
	MethodListAccess             = "list_access"
	MethodGrantAccess            = "grant_access"
	MethodRevokeAccess           = "revoke_access"
	MethodEnableRoot             = "enable_root"
	MethodEnableRootWithPassword = "enable_root_with_password"
	MethodDisableRoot            = "disable_root"
	MethodIsRootEnabled          = "is_root_enabled"
	MethodGetRootPassword        = "get_root_password"
	MethodRPCPing                = "rpc_ping"
	MethodPreUpgrade             = "pre_upgrade"
	MethodUpgrade                = "upgrade"
	MethodPostUpgrade            = "post_upgrade"
	MethodCreateBackup           = "create_backup"
)
