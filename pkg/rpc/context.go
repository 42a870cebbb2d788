package rpc

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Context is the request context carried with every message (oslo.context RequestContext + TroveContext).
type Context struct {
	UserID          string
	ProjectID       string
	DomainID        string
	UserDomainID    string
	ProjectDomainID string
	SystemScope     string
	UserName        string
	ProjectName     string
	IsAdmin         bool
	ReadOnly        bool
	ShowDeleted     bool
	NotAdminProject bool // is_admin_project is true unless set (oslo.context's default)
	AuthToken       string
	RequestID       string
	GlobalRequestID string
	ResourceUUID    string
	Roles           []string
	Limit           *int
	Marker          string
	ServiceCatalog  json.RawMessage // passed through unchanged
	// Notification is TroveContext's trove_notification dict (rpc.md §A.4), passed through unchanged.
	Notification json.RawMessage

	// SenderInstanceID is set by receiving codecs that authenticate a guest (never sent).
	SenderInstanceID string
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// wireContext is TroveContext.to_dict() as JSON.
type wireContext struct {
	User            *string         `json:"user"`
	ProjectID       *string         `json:"project_id"`
	SystemScope     *string         `json:"system_scope"`
	Project         *string         `json:"project"`
	Domain          *string         `json:"domain"`
	UserDomain      *string         `json:"user_domain"`
	ProjectDomain   *string         `json:"project_domain"`
	IsAdmin         bool            `json:"is_admin"`
	ReadOnly        bool            `json:"read_only"`
	ShowDeleted     bool            `json:"show_deleted"`
	AuthToken       *string         `json:"auth_token"`
	RequestID       *string         `json:"request_id"`
	GlobalRequestID *string         `json:"global_request_id"`
	ResourceUUID    *string         `json:"resource_uuid"`
	Roles           []string        `json:"roles"`
	UserIdentity    string          `json:"user_identity"`
	IsAdminProject  *bool           `json:"is_admin_project"`
	UserName        *string         `json:"user_name,omitempty"`
	ProjectName     *string         `json:"project_name,omitempty"`
	Limit           *int            `json:"limit"`
	Marker          *string         `json:"marker"`
	ServiceCatalog  json.RawMessage `json:"service_catalog"`
	Notification    json.RawMessage `json:"trove_notification,omitempty"`
	// accepted on receipt only
	UserID *string `json:"user_id,omitempty"`
	Tenant *string `json:"tenant,omitempty"`
}

// MarshalJSON renders TroveContext.to_dict().
func (c Context) MarshalJSON() ([]byte, error) {
	roles := c.Roles
	if roles == nil {
		roles = []string{}
	}
	iap := !c.NotAdminProject
	w := wireContext{
		User: nullable(c.UserID), ProjectID: nullable(c.ProjectID), SystemScope: nullable(c.SystemScope),
		Project: nullable(c.ProjectID), Domain: nullable(c.DomainID), UserDomain: nullable(c.UserDomainID),
		ProjectDomain: nullable(c.ProjectDomainID), IsAdmin: c.IsAdmin, ReadOnly: c.ReadOnly,
		ShowDeleted: c.ShowDeleted, AuthToken: nullable(c.AuthToken), RequestID: nullable(c.RequestID),
		GlobalRequestID: nullable(c.GlobalRequestID), ResourceUUID: nullable(c.ResourceUUID), Roles: roles,
		UserIdentity: strings.Join([]string{dash(c.UserID), dash(c.ProjectID), dash(c.DomainID),
			dash(c.UserDomainID), dash(c.ProjectDomainID)}, " "),
		IsAdminProject: &iap, UserName: nullable(c.UserName), ProjectName: nullable(c.ProjectName),
		Limit: c.Limit, Marker: nullable(c.Marker), ServiceCatalog: c.ServiceCatalog, Notification: c.Notification,
	}
	if len(w.ServiceCatalog) == 0 {
		w.ServiceCatalog = json.RawMessage("null")
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads TroveContext.from_dict() input; unknown keys are ignored.
func (c *Context) UnmarshalJSON(b []byte) error {
	var w wireContext
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("rpc: decoding context: %w", err)
	}
	s := func(p ...*string) string {
		for _, v := range p {
			if v != nil {
				return *v
			}
		}
		return ""
	}
	*c = Context{
		UserID: s(w.User, w.UserID), ProjectID: s(w.ProjectID, w.Project, w.Tenant), DomainID: s(w.Domain),
		UserDomainID: s(w.UserDomain), ProjectDomainID: s(w.ProjectDomain), SystemScope: s(w.SystemScope),
		UserName: s(w.UserName), ProjectName: s(w.ProjectName), IsAdmin: w.IsAdmin, ReadOnly: w.ReadOnly,
		ShowDeleted: w.ShowDeleted, NotAdminProject: w.IsAdminProject != nil && !*w.IsAdminProject,
		AuthToken: s(w.AuthToken), RequestID: s(w.RequestID), GlobalRequestID: s(w.GlobalRequestID),
		ResourceUUID: s(w.ResourceUUID), Roles: w.Roles, Limit: w.Limit, Marker: s(w.Marker),
	}
	if len(w.ServiceCatalog) > 0 && string(w.ServiceCatalog) != "null" {
		c.ServiceCatalog = w.ServiceCatalog
	}
	if len(w.Notification) > 0 && string(w.Notification) != "null" {
		c.Notification = w.Notification
	}
	return nil
}
