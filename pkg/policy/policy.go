// Package policy enforces Trove's API policy: the rules Trove registers with oslo.policy, overridable by a
// policy.yaml / policy.json file, evaluated by a small interpreter of oslo.policy's rule language (checks
// role:X, rule:X, attribute:%(target_key)s such as project_id:%(tenant)s, is_admin:True, "" / "@" (always),
// "!" (never), combined with and / or / not and parentheses).
//
// Deviation from Trove: upstream registers admin_or_owner ("rule:admin or project_id:%(tenant)s") for almost
// every action, so any role in the owning project — even reader alone — may create or delete. Following the
// newer "secure RBAC" defaults of OpenStack, this package defaults
//   - mutating actions to RuleProjectMember: (role:admin) or (role:member and project_id:%(tenant)s)
//   - read actions to RuleProjectReader:     (role:admin) or (role:reader and project_id:%(tenant)s)
//
// Rules whose upstream default is not admin_or_owner (context_is_admin, admin, admin_or_owner, default,
// instance:reset_status, cluster:reset-status, backup:index:all_projects, datastore:*, flavor:*) are unchanged.
// Keystone's implied roles make this transparent for ordinary users (a member token carries member and reader;
// an admin token adds admin). An operator restores Trove's behaviour by overriding rules in the policy file.
// docs/policy.md has the complete table.
package policy

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Credentials are the caller's identity as policy sees it (oslo's creds dict).
type Credentials struct {
	Roles     []string
	ProjectID string
	UserID    string
	IsAdmin   bool
}

// NotAuthorized is Trove's PolicyNotAuthorized (HTTP 403).
type NotAuthorized struct {
	Rule string
}

func (e *NotAuthorized) Error() string {
	return fmt.Sprintf("Policy doesn't allow %s to be performed.", e.Rule)
}

// ErrNotRegistered is returned by Enforce for a rule name that is not registered: a programming error, as
// oslo.policy's PolicyNotRegistered.
var ErrNotRegistered = errors.New("policy rule is not registered")

// Enforcer holds the effective rules. It is safe for concurrent use once built.
type Enforcer struct {
	rules      map[string]expr
	registered map[string]bool
	// adminRoles is [DEFAULT] admin_roles, lower-cased; when non-empty it decides IsAdmin instead of
	// context_is_admin.
	adminRoles []string
}

// New builds an Enforcer from the defaults and overrides (rule name → expression). Overrides may also define
// new rules, usable through rule:X references. A rule that does not parse is an error.
func New(overrides map[string]string) (*Enforcer, error) {
	e := &Enforcer{rules: make(map[string]expr), registered: make(map[string]bool)}
	for _, r := range Defaults {
		x, err := parse(r.Default)
		if err != nil {
			panic(fmt.Sprintf("policy: default %s: %v", r.Name, err)) // covered by tests
		}
		e.rules[r.Name] = x
		e.registered[r.Name] = true
	}
	names := make([]string, 0, len(overrides))
	for n := range overrides {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		x, err := parse(overrides[n])
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %q: %w", n, err))
			continue
		}
		e.rules[n] = x
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return e, nil
}

// WithAdminRoles returns a copy of e whose IsAdmin honours [DEFAULT] admin_roles (when the list is non-empty).
func (e *Enforcer) WithAdminRoles(roles []string) *Enforcer {
	c := *e
	c.adminRoles = nil
	for _, r := range roles {
		if r = strings.TrimSpace(r); r != "" {
			c.adminRoles = append(c.adminRoles, strings.ToLower(r))
		}
	}
	return &c
}

// Enforce returns nil when rule allows creds to act on target, *NotAuthorized when it does not, and an error
// wrapping ErrNotRegistered for an unknown rule name. Target is {"tenant": <owner project>} in Trove.
func (e *Enforcer) Enforce(rule string, creds Credentials, target map[string]string) error {
	if !e.registered[rule] {
		return fmt.Errorf("%w: %q", ErrNotRegistered, rule)
	}
	c := &evalCtx{rules: e.rules, creds: creds, target: target}
	if !e.rules[rule].eval(c) {
		return &NotAuthorized{Rule: rule}
	}
	return nil
}

// IsAdmin computes the request context's is_admin as Trove does: any role in admin_roles when that list is
// non-empty, otherwise the rule context_is_admin (target: the caller's own project).
func (e *Enforcer) IsAdmin(creds Credentials) bool {
	if len(e.adminRoles) > 0 {
		for _, r := range creds.Roles {
			for _, a := range e.adminRoles {
				if strings.ToLower(r) == a {
					return true
				}
			}
		}
		return false
	}
	c := &evalCtx{rules: e.rules, creds: creds, target: map[string]string{"tenant": creds.ProjectID, "project_id": creds.ProjectID}}
	return e.rules["context_is_admin"].eval(c)
}
