package guestapi

import (
	"errors"
	"fmt"
)

// NoArgs is the args struct of methods sent without arguments (restart, enable_root, disable_root,
// is_root_enabled, get_root_password, rpc_ping, pre_upgrade).
type NoArgs struct{}

// Validate accepts everything.
func (NoArgs) Validate() error { return nil }

// PrepareArgs is prepare (cast, version 1.1). root_password and users[]._password are secrets: never log.
type PrepareArgs struct {
	Packages       []string       `json:"packages"`
	Databases      []Schema       `json:"databases"`
	MemoryMB       int            `json:"memory_mb"`
	Users          []User         `json:"users"`
	DevicePath     *string        `json:"device_path"`
	MountPoint     *string        `json:"mount_point"`
	BackupInfo     map[string]any `json:"backup_info"`
	ConfigContents *string        `json:"config_contents"`
	RootPassword   *string        `json:"root_password"`
	Overrides      map[string]any `json:"overrides"`
	ClusterConfig  map[string]any `json:"cluster_config"`
	Snapshot       map[string]any `json:"snapshot"`
	Modules        []any          `json:"modules"`
	DSVersion      *string        `json:"ds_version,omitempty"`
}

// Validate checks the databases and users prepare will create.
func (a PrepareArgs) Validate() error {
	if a.MemoryMB < 0 {
		return fmt.Errorf("memory_mb %d is negative", a.MemoryMB)
	}
	if err := validateSchemas(a.Databases, false); err != nil {
		return err
	}
	return validateUsers(a.Users, false)
}

// StopDBArgs is stop_db (call, low; version 1.1 sends nothing, 1.0 sends do_not_start_on_reboot).
type StopDBArgs struct {
	DoNotStartOnReboot *bool `json:"do_not_start_on_reboot,omitempty"`
}

// Validate accepts everything.
func (StopDBArgs) Validate() error { return nil }

// GetFilesystemStatsArgs is get_filesystem_stats (call, low); fs_path is always null from Trove.
type GetFilesystemStatsArgs struct {
	FSPath *string `json:"fs_path"`
}

// Validate accepts everything.
func (GetFilesystemStatsArgs) Validate() error { return nil }

// ResizeFSArgs is resize_fs (call, high, version 1.1).
type ResizeFSArgs struct {
	DevicePath *string `json:"device_path"`
	MountPoint *string `json:"mount_point"`
	Online     bool    `json:"online"`
}

// Validate accepts everything: the local guest ignores the device.
func (ResizeFSArgs) Validate() error { return nil }

// CreateDatabaseArgs is create_database (cast).
type CreateDatabaseArgs struct {
	Databases []Schema `json:"databases"`
}

// Validate requires at least one named database.
func (a CreateDatabaseArgs) Validate() error { return validateSchemas(a.Databases, true) }

// ListArgs is list_databases (call, low) and list_users (call, high).
type ListArgs struct {
	Limit         *int    `json:"limit"`
	Marker        *string `json:"marker"`
	IncludeMarker bool    `json:"include_marker"`
}

// Validate rejects negative limits.
func (a ListArgs) Validate() error {
	if a.Limit != nil && *a.Limit < 0 {
		return fmt.Errorf("limit %d is negative", *a.Limit)
	}
	return nil
}

// DeleteDatabaseArgs is delete_database (cast).
type DeleteDatabaseArgs struct {
	Database Schema `json:"database"`
}

// Validate requires a name.
func (a DeleteDatabaseArgs) Validate() error { return validateSchemas([]Schema{a.Database}, true) }

// CreateUserArgs is create_user (cast). Passwords: never log.
type CreateUserArgs struct {
	Users []User `json:"users"`
}

// Validate requires at least one user, each with a name and a password.
func (a CreateUserArgs) Validate() error { return validateUsers(a.Users, true) }

// UserRef names one user: get_user (call, low), list_access (call, low).
type UserRef struct {
	Username string  `json:"username"`
	Hostname *string `json:"hostname"`
}

// Host returns the hostname, "%" when null or empty.
func (r UserRef) Host() string {
	if r.Hostname == nil || *r.Hostname == "" {
		return "%"
	}
	return *r.Hostname
}

// Validate requires a user name.
func (r UserRef) Validate() error {
	if r.Username == "" {
		return errors.New("username is required")
	}
	return nil
}

// GetUserArgs is get_user (call, low); the result is a *User (null when absent).
type GetUserArgs = UserRef

// ListAccessArgs is list_access (call, low); the result is []Schema.
type ListAccessArgs = UserRef

// UpdateAttributesArgs is update_attributes (cast). user_attrs.password is a secret.
type UpdateAttributesArgs struct {
	UserRef
	UserAttrs UserAttrs `json:"user_attrs"`
}

// Validate requires a user and at least one attribute.
func (a UpdateAttributesArgs) Validate() error {
	if err := a.UserRef.Validate(); err != nil {
		return err
	}
	ua := a.UserAttrs
	if ua.Name == nil && ua.Password == nil && ua.Host == nil {
		return errors.New("user_attrs: at least one of name, password, host is required")
	}
	if ua.Name != nil && *ua.Name == "" {
		return errors.New("user_attrs: name is empty")
	}
	if ua.Password != nil && *ua.Password == "" {
		return errors.New("user_attrs: password is empty")
	}
	return nil
}

// DeleteUserArgs is delete_user (cast); only _name and _host are used.
type DeleteUserArgs struct {
	User User `json:"user"`
}

// Validate requires a user name.
func (a DeleteUserArgs) Validate() error {
	if a.User.Name == "" {
		return errors.New("user: _name is required")
	}
	return nil
}

// ChangePasswordsArgs is change_passwords (cast). Passwords: never log.
type ChangePasswordsArgs struct {
	Users []PasswordChange `json:"users"`
}

// Validate requires at least one user, each with a name and a password.
func (a ChangePasswordsArgs) Validate() error {
	if len(a.Users) == 0 {
		return errors.New("users: at least one user is required")
	}
	for i, u := range a.Users {
		if u.Name == "" || u.Password == "" {
			return fmt.Errorf("users[%d]: name and password are required", i)
		}
	}
	return nil
}

// GrantAccessArgs is grant_access (call, low).
type GrantAccessArgs struct {
	UserRef
	Databases []string `json:"databases"`
}

// Validate requires a user and non-empty database names.
func (a GrantAccessArgs) Validate() error {
	if err := a.UserRef.Validate(); err != nil {
		return err
	}
	for i, d := range a.Databases {
		if d == "" {
			return fmt.Errorf("databases[%d] is empty", i)
		}
	}
	return nil
}

// RevokeAccessArgs is revoke_access (call, low).
type RevokeAccessArgs struct {
	UserRef
	Database string `json:"database"`
}

// Validate requires a user and a database.
func (a RevokeAccessArgs) Validate() error {
	if err := a.UserRef.Validate(); err != nil {
		return err
	}
	if a.Database == "" {
		return errors.New("database is required")
	}
	return nil
}

// EnableRootWithPasswordArgs is enable_root_with_password (call, high); null → generated. Never log.
type EnableRootWithPasswordArgs struct {
	RootPassword *string `json:"root_password"`
}

// Validate rejects an empty (non-null) password.
func (a EnableRootWithPasswordArgs) Validate() error {
	if a.RootPassword != nil && *a.RootPassword == "" {
		return errors.New("root_password is empty")
	}
	return nil
}

// UpgradeArgs is upgrade (cast) and post_upgrade (call, high).
type UpgradeArgs struct {
	UpgradeInfo UpgradeInfo `json:"upgrade_info"`
}

// Validate requires upgrade_info.
func (a UpgradeArgs) Validate() error {
	if a.UpgradeInfo == nil {
		return errors.New("upgrade_info is required")
	}
	return nil
}

// DatastoreVersion returns upgrade_info["datastore_version"] when it is a string.
func (a UpgradeArgs) DatastoreVersion() string {
	s, _ := a.UpgradeInfo["datastore_version"].(string)
	return s
}

func validateSchemas(dbs []Schema, required bool) error {
	if required && len(dbs) == 0 {
		return errors.New("databases: at least one database is required")
	}
	for i, d := range dbs {
		if d.Name == "" {
			return fmt.Errorf("databases[%d]: _name is required", i)
		}
	}
	return nil
}

func validateUsers(users []User, required bool) error {
	if required && len(users) == 0 {
		return errors.New("users: at least one user is required")
	}
	for i, u := range users {
		if u.Name == "" {
			return fmt.Errorf("users[%d]: _name is required", i)
		}
		if u.Password == nil || *u.Password == "" {
			return fmt.Errorf("users[%d]: _password is required", i)
		}
		if err := validateSchemas(u.Databases, false); err != nil {
			return fmt.Errorf("users[%d]: %w", i, err)
		}
	}
	return nil
}
