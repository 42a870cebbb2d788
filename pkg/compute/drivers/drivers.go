// Package drivers is the one place that picks a compute driver from configuration ([DEFAULT] compute_driver):
// services import it, never a driver package.
package drivers

import (
	"context"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/compute/local"
	"github.com/trove-go/trove/pkg/compute/openstack"
	"github.com/trove-go/trove/pkg/config"
)

// FromConfig builds the driver [DEFAULT] compute_driver names (default local) from its section of f.
func FromConfig(f *config.File, log logrus.FieldLogger) (compute.Driver, error) {
	switch d := f.String("DEFAULT", "compute_driver", "local"); d {
	case "local":
		cfg, err := local.ConfigFrom(f)
		if err != nil {
			return nil, err
		}
		return local.New(cfg, log), nil
	case "openstack":
		cfg, err := openstack.ConfigFrom(f)
		if err != nil {
			return nil, err
		}
		return openstack.New(cfg, log)
	default:
		return nil, fmt.Errorf("[DEFAULT] compute_driver = %q is not supported (local, openstack)", d)
	}
}

// What only some drivers do, asked for with a type assertion on the driver FromConfig returns. The assertions
// below keep a driver that changes a signature from silently skipping the call.
type (
	// IsolationChecker refuses to start a driver that cannot isolate tenants as configured (the local driver's
	// root helper).
	IsolationChecker interface {
		Check(context.Context) error
	}
	// StoppedStarter starts the guests of this host that are not running (after a reboot) and returns their ids.
	StoppedStarter interface {
		StartStopped(context.Context) ([]string, error)
	}
)

var (
	_ compute.Driver           = (*openstack.Driver)(nil)
	_ compute.Resizer          = (*openstack.Driver)(nil)
	_ compute.AccessController = (*openstack.Driver)(nil)
	_ compute.NetworkChecker   = (*openstack.Driver)(nil)
	_ IsolationChecker         = (*local.Driver)(nil)
	_ StoppedStarter           = (*local.Driver)(nil)
)
