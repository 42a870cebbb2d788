package taskapi

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/trove-go/trove/pkg/rpc"
)

// Trove's taskmanager methods of a flavor resize and an access update.
const (
	MethodResizeFlavor = "resize_flavor"
	MethodUpdateAccess = "update_access"
)

// ResizeFlavorArgs is resize_flavor: Trove sends both novaclient flavor dicts.
type ResizeFlavorArgs struct {
	InstanceID string `json:"instance_id"`
	OldFlavor  Flavor `json:"old_flavor"`
	NewFlavor  Flavor `json:"new_flavor"`
}

// Validate checks the instance id and that both flavors are named and differ.
func (a ResizeFlavorArgs) Validate() error {
	var errs []error
	if err := validID("instance_id", a.InstanceID); err != nil {
		errs = append(errs, err)
	}
	if a.OldFlavor.ID == "" || a.NewFlavor.ID == "" {
		errs = append(errs, errors.New("old_flavor and new_flavor need an id"))
	} else if a.OldFlavor.ID == a.NewFlavor.ID {
		errs = append(errs, fmt.Errorf("new_flavor %q is the current flavor", a.NewFlavor.ID))
	}
	if a.NewFlavor.RAM < 0 {
		errs = append(errs, fmt.Errorf("new_flavor ram %d is negative", a.NewFlavor.RAM))
	}
	return errors.Join(errs...)
}

// UpdateAccessArgs is update_access: {"is_public": bool, "allowed_cidrs": [...]}.
type UpdateAccessArgs struct {
	InstanceID string `json:"instance_id"`
	Access     Access `json:"access"`
}

// Validate checks the instance id and every CIDR (IPv4, as the API's schema allows).
func (a UpdateAccessArgs) Validate() error {
	var errs []error
	if err := validID("instance_id", a.InstanceID); err != nil {
		errs = append(errs, err)
	}
	for _, c := range a.Access.AllowedCIDRs {
		if _, err := ParseCIDR(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ParseCIDR reads an allowed_cidrs entry as Trove's schema admits it (an IPv4 address, optionally with a prefix
// length) and returns it canonical: host bits cleared, /32 for a bare address.
func ParseCIDR(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return netip.PrefixFrom(a, 32), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("allowed_cidrs entry %q is not an IPv4 address or CIDR", s)
	}
	return p.Masked(), nil
}

// ResizeFlavor casts resize_flavor.
func (c *Client) ResizeFlavor(ctx context.Context, rc rpc.Context, a ResizeFlavorArgs) error {
	return c.cast(ctx, rc, MethodResizeFlavor, a)
}

// UpdateAccess casts update_access.
func (c *Client) UpdateAccess(ctx context.Context, rc rpc.Context, a UpdateAccessArgs) error {
	return c.cast(ctx, rc, MethodUpdateAccess, a)
}
