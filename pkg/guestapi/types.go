package guestapi

import (
	"encoding/json"
	"fmt"
)

// Schema is Trove's serialized database (rpc.md §B.5).
type Schema struct {
	Name         string  `json:"_name"`
	Collate      *string `json:"_collate"`
	CharacterSet *string `json:"_character_set"`
}

// User is Trove's serialized user (rpc.md §B.5). Password is empty in listings.
type User struct {
	Name      string   `json:"_name"`
	Host      string   `json:"_host"`
	Password  *string  `json:"_password"`
	Databases []Schema `json:"_databases"`
	IsRoot    bool     `json:"_is_root"`
}

// HostOrDefault returns the user's host, "%" when empty (Trove's default).
func (u User) HostOrDefault() string {
	if u.Host == "" {
		return "%"
	}
	return u.Host
}

// ID is "name@host", the marker format of list_users (api.md §1.4).
func (u User) ID() string { return u.Name + "@" + u.HostOrDefault() }

// UserAttrs is update_attributes' user_attrs: only the keys present change.
type UserAttrs struct {
	Name     *string `json:"name,omitempty"`
	Password *string `json:"password,omitempty"`
	Host     *string `json:"host,omitempty"`
}

// PasswordChange is one element of change_passwords' users.
type PasswordChange struct {
	Name     string `json:"name"`
	Host     string `json:"host"`
	Password string `json:"password"`
}

// FilesystemStats is get_filesystem_stats' result, in Trove's shape: total and used in GB, free in bytes.
type FilesystemStats struct {
	BlockSize    int64          `json:"block_size"`
	TotalBlocks  int64          `json:"total_blocks"`
	FreeBlocks   int64          `json:"free_blocks"`
	AvailBlocks  int64          `json:"avail_blocks"`
	Total        float64        `json:"total"`
	Free         int64          `json:"free"`
	Used         float64        `json:"used"`
	MgrExtraInfo map[string]any `json:"mgr_extra_info"`
}

// Page is a list result on the wire: the two-element array [[items...], next_marker|null].
type Page[T any] struct {
	Items      []T
	NextMarker *string
}

// MarshalJSON renders [[items], marker].
func (p Page[T]) MarshalJSON() ([]byte, error) {
	items := p.Items
	if items == nil {
		items = []T{}
	}
	return json.Marshal([]any{items, p.NextMarker})
}

// UnmarshalJSON reads [[items], marker].
func (p *Page[T]) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw) != 2 {
		return fmt.Errorf("guestapi: list result has %d elements, want 2", len(raw))
	}
	p.Items, p.NextMarker = nil, nil
	if err := json.Unmarshal(raw[0], &p.Items); err != nil {
		return err
	}
	return json.Unmarshal(raw[1], &p.NextMarker)
}

// DatabasePage is list_databases' result.
type DatabasePage = Page[Schema]

// UserPage is list_users' result.
type UserPage = Page[User]

// UpgradeInfo is pre_upgrade's result and upgrade/post_upgrade's upgrade_info; the control plane adds
// datastore_version. Extra keys are kept so a newer guest's fields survive the round trip.
type UpgradeInfo map[string]any
