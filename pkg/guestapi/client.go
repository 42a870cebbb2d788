package guestapi

import (
	"context"
	"time"

	"github.com/trove-go/trove/pkg/rpc"
)

// Target is the RPC target of an instance's guest (topic guestagent.<id>, no server, version 1.0; Client
// sends each method with its own version).
func Target(instanceID string) rpc.Target {
	return rpc.Target{Topic: Topic(instanceID), Version: BaseVersion}
}

// Client sends guest methods with Trove's kind, timeout and version (rpc.md §B.3), within what Peer may be
// sent. Casts return once the broker has confirmed the message; calls return the guest's result or
// *rpc.RemoteError; a method the peer cannot be sent returns an *UnsupportedError at once.
type Client struct {
	rpc  *rpc.Client
	Low  time.Duration // agent_call_low_timeout
	High time.Duration // agent_call_high_timeout
	// Peer is the guest's agent and version cap; the zero value is an unrecorded agent under latest.
	Peer Peer
}

// New wraps an rpc.Client built with Target(instanceID) and the instance's codec.
func New(c *rpc.Client) *Client {
	return &Client{rpc: c, Low: DefaultLowTimeout, High: DefaultHighTimeout}
}

// at returns the client requesting method's version for the peer, and that version.
func (c *Client) at(method string) (*rpc.Client, string, error) {
	v, err := c.Peer.VersionFor(method)
	if err != nil {
		return nil, "", err
	}
	return c.rpc.At(v), v, nil
}

func (c *Client) call(ctx context.Context, rc rpc.Context, method string, args, result any, timeout time.Duration) error {
	r, _, err := c.at(method)
	if err != nil {
		return err
	}
	return r.Call(ctx, rc, method, args, result, timeout)
}

func (c *Client) cast(ctx context.Context, rc rpc.Context, method string, args any) error {
	r, _, err := c.at(method)
	if err != nil {
		return err
	}
	return r.Cast(ctx, rc, method, args)
}

// Prepare casts prepare: version 1.1, or 1.0 without ds_version when the cap is below 1.1 (as Trove).
func (c *Client) Prepare(ctx context.Context, rc rpc.Context, a PrepareArgs) error {
	r, v, err := c.at(MethodPrepare)
	if err != nil {
		return err
	}
	if v == BaseVersion {
		a.DSVersion = nil
	}
	return r.Cast(ctx, rc, MethodPrepare, a)
}

// Restart calls restart (high).
func (c *Client) Restart(ctx context.Context, rc rpc.Context) error {
	return c.call(ctx, rc, MethodRestart, NoArgs{}, nil, c.High)
}

// StopDB calls stop_db (low): version 1.1 without arguments, or 1.0 with do_not_start_on_reboot false when
// the cap is below 1.1 (as Trove).
func (c *Client) StopDB(ctx context.Context, rc rpc.Context) error {
	r, v, err := c.at(MethodStopDB)
	if err != nil {
		return err
	}
	var a StopDBArgs
	if v == BaseVersion {
		no := false
		a.DoNotStartOnReboot = &no
	}
	return r.Call(ctx, rc, MethodStopDB, a, nil, c.Low)
}

// GetFilesystemStats calls get_filesystem_stats (low).
func (c *Client) GetFilesystemStats(ctx context.Context, rc rpc.Context) (FilesystemStats, error) {
	var r FilesystemStats
	err := c.call(ctx, rc, MethodGetFilesystemStats, GetFilesystemStatsArgs{}, &r, c.Low)
	return r, err
}

// ResizeFS calls resize_fs (high): version 1.1, or 1.0 without online when the cap is below 1.1 (as Trove).
func (c *Client) ResizeFS(ctx context.Context, rc rpc.Context, a ResizeFSArgs) error {
	r, v, err := c.at(MethodResizeFS)
	if err != nil {
		return err
	}
	if v == BaseVersion {
		return r.Call(ctx, rc, MethodResizeFS, resizeFSArgs10{DevicePath: a.DevicePath, MountPoint: a.MountPoint}, nil, c.High)
	}
	return r.Call(ctx, rc, MethodResizeFS, a, nil, c.High)
}

// resizeFSArgs10 is resize_fs at version 1.0 (no online).
type resizeFSArgs10 struct {
	DevicePath *string `json:"device_path"`
	MountPoint *string `json:"mount_point"`
}

func (resizeFSArgs10) Validate() error { return nil }

// CreateDatabase casts create_database.
func (c *Client) CreateDatabase(ctx context.Context, rc rpc.Context, a CreateDatabaseArgs) error {
	return c.cast(ctx, rc, MethodCreateDatabase, a)
}

// ListDatabases calls list_databases (low).
func (c *Client) ListDatabases(ctx context.Context, rc rpc.Context, a ListArgs) (DatabasePage, error) {
	var r DatabasePage
	err := c.call(ctx, rc, MethodListDatabases, a, &r, c.Low)
	return r, err
}

// DeleteDatabase casts delete_database.
func (c *Client) DeleteDatabase(ctx context.Context, rc rpc.Context, a DeleteDatabaseArgs) error {
	return c.cast(ctx, rc, MethodDeleteDatabase, a)
}

// CreateUser casts create_user.
func (c *Client) CreateUser(ctx context.Context, rc rpc.Context, a CreateUserArgs) error {
	return c.cast(ctx, rc, MethodCreateUser, a)
}

// ListUsers calls list_users (high, as Trove does).
func (c *Client) ListUsers(ctx context.Context, rc rpc.Context, a ListArgs) (UserPage, error) {
	var r UserPage
	err := c.call(ctx, rc, MethodListUsers, a, &r, c.High)
	return r, err
}

// GetUser calls get_user (low); nil when the user does not exist.
func (c *Client) GetUser(ctx context.Context, rc rpc.Context, a GetUserArgs) (*User, error) {
	var r *User
	err := c.call(ctx, rc, MethodGetUser, a, &r, c.Low)
	return r, err
}

// UpdateAttributes casts update_attributes.
func (c *Client) UpdateAttributes(ctx context.Context, rc rpc.Context, a UpdateAttributesArgs) error {
	return c.cast(ctx, rc, MethodUpdateAttributes, a)
}

// DeleteUser casts delete_user.
func (c *Client) DeleteUser(ctx context.Context, rc rpc.Context, a DeleteUserArgs) error {
	return c.cast(ctx, rc, MethodDeleteUser, a)
}

// ChangePasswords casts change_passwords.
func (c *Client) ChangePasswords(ctx context.Context, rc rpc.Context, a ChangePasswordsArgs) error {
	return c.cast(ctx, rc, MethodChangePasswords, a)
}

// ListAccess calls list_access (low).
func (c *Client) ListAccess(ctx context.Context, rc rpc.Context, a ListAccessArgs) ([]Schema, error) {
	var r []Schema
	err := c.call(ctx, rc, MethodListAccess, a, &r, c.Low)
	return r, err
}

// GrantAccess calls grant_access (low).
func (c *Client) GrantAccess(ctx context.Context, rc rpc.Context, a GrantAccessArgs) error {
	return c.call(ctx, rc, MethodGrantAccess, a, nil, c.Low)
}

// RevokeAccess calls revoke_access (low).
func (c *Client) RevokeAccess(ctx context.Context, rc rpc.Context, a RevokeAccessArgs) error {
	return c.call(ctx, rc, MethodRevokeAccess, a, nil, c.Low)
}

// EnableRoot calls enable_root (high); the result carries the generated password.
func (c *Client) EnableRoot(ctx context.Context, rc rpc.Context) (User, error) {
	var r User
	err := c.call(ctx, rc, MethodEnableRoot, NoArgs{}, &r, c.High)
	return r, err
}

// EnableRootWithPassword calls enable_root_with_password (high).
func (c *Client) EnableRootWithPassword(ctx context.Context, rc rpc.Context, a EnableRootWithPasswordArgs) (User, error) {
	var r User
	err := c.call(ctx, rc, MethodEnableRootWithPassword, a, &r, c.High)
	return r, err
}

// DisableRoot calls disable_root (low).
func (c *Client) DisableRoot(ctx context.Context, rc rpc.Context) error {
	return c.call(ctx, rc, MethodDisableRoot, NoArgs{}, nil, c.Low)
}

// IsRootEnabled calls is_root_enabled (low).
func (c *Client) IsRootEnabled(ctx context.Context, rc rpc.Context) (bool, error) {
	var r bool
	err := c.call(ctx, rc, MethodIsRootEnabled, NoArgs{}, &r, c.Low)
	return r, err
}

// RPCPing calls rpc_ping (low).
func (c *Client) RPCPing(ctx context.Context, rc rpc.Context) (bool, error) {
	var r bool
	err := c.call(ctx, rc, MethodRPCPing, NoArgs{}, &r, c.Low)
	return r, err
}

// PreUpgrade calls pre_upgrade (high).
func (c *Client) PreUpgrade(ctx context.Context, rc rpc.Context) (UpgradeInfo, error) {
	var r UpgradeInfo
	err := c.call(ctx, rc, MethodPreUpgrade, NoArgs{}, &r, c.High)
	return r, err
}

// Upgrade casts upgrade; upgrade_info is pre_upgrade's result plus datastore_version.
func (c *Client) Upgrade(ctx context.Context, rc rpc.Context, a UpgradeArgs) error {
	return c.cast(ctx, rc, MethodUpgrade, a)
}

// PostUpgrade calls post_upgrade (high).
func (c *Client) PostUpgrade(ctx context.Context, rc rpc.Context, a UpgradeArgs) error {
	return c.call(ctx, rc, MethodPostUpgrade, a, nil, c.High)
}
