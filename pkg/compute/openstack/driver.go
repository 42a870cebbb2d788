// Package openstack is the compute driver for an OpenStack cloud: Nova servers, Neutron ports, security groups
// and floating IPs, Cinder volumes and Glance images, all through one gophercloud provider authenticated as
// Trove's service user ([service_credentials]); servers, ports, groups and volumes live in the service
// project, as Trove's admin clients put them. Names follow Trove: the security group trove_sg-<instance id>,
// ports and volumes trove-<instance id>.
package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/compute"
)

// Compute API microversions: ComputeMicroversion for what the driver does (tags on create 2.52, user_data on
// rebuild 2.57); computeReadMicroversion for reading servers, the last one whose server shows its flavor's id
// (2.47 replaced it by the flavor's description) and it shows user_data to an admin (2.3+).
const (
	ComputeMicroversion     = "2.60"
	computeReadMicroversion = "2.46"
	// VolumeMicroversion allows extending an attached volume (3.42).
	VolumeMicroversion = "3.42"
)

// ErrPermanent is wrapped by errors a retry cannot fix: the request was refused (a tenant's network that is not
// theirs, a flavor too small for the image, a quota), or the server went to ERROR. Their messages are the
// cloud's, fit for the tenant.
var ErrPermanent = compute.ErrPermanent

// Driver is the OpenStack compute driver.
type Driver struct {
	cfg Config
	log logrus.FieldLogger

	provider *gophercloud.ProviderClient
	counter  *counter
	compute  *gophercloud.ServiceClient // ComputeMicroversion
	read     *gophercloud.ServiceClient // computeReadMicroversion
	network  *gophercloud.ServiceClient
	volume   *gophercloud.ServiceClient
	image    *gophercloud.ServiceClient

	mu        sync.Mutex
	instances map[string]string // server id → Trove instance id, for a delete retried after the server went
}

// New authenticates the service user once (the token is reused by every call and renewed only when Keystone
// rejects it) and finds the compute, network, volume and image endpoints.
func New(cfg Config, log logrus.FieldLogger) (*Driver, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if log == nil {
		log = logrus.StandardLogger()
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.MaxPollInterval < cfg.PollInterval {
		cfg.MaxPollInterval = cfg.PollInterval
	}
	provider, err := openstack.NewClient(cfg.AuthURL)
	if err != nil {
		return nil, fmt.Errorf("openstack: auth_url %q: %w", cfg.AuthURL, err)
	}
	c := newCounter(http.DefaultTransport)
	provider.HTTPClient = http.Client{Transport: c, Timeout: 2 * time.Minute}
	opts := gophercloud.AuthOptions{
		IdentityEndpoint: cfg.AuthURL,
		Username:         cfg.Username,
		Password:         cfg.Password,
		DomainName:       cfg.UserDomainName,
		AllowReauth:      true,
		Scope:            &gophercloud.AuthScope{ProjectID: cfg.ProjectID},
	}
	if cfg.ProjectID == "" {
		opts.Scope = &gophercloud.AuthScope{ProjectName: cfg.ProjectName, DomainName: cfg.ProjectDomainName}
	}
	if err := openstack.Authenticate(ctx, provider, opts); err != nil {
		return nil, fmt.Errorf("openstack: authenticating %s at %s: %w", cfg.Username, cfg.AuthURL, err)
	}
	d := &Driver{cfg: cfg, log: log.WithField("driver", "openstack"), provider: provider, counter: c,
		instances: map[string]string{}}
	projectID := cfg.ProjectID
	if r, ok := provider.GetAuthResult().(tokens.CreateResult); ok && projectID == "" {
		if p, err := r.ExtractProject(); err == nil && p != nil {
			projectID = p.ID
		}
	}
	eo := func(typ string) gophercloud.EndpointOpts {
		a, _ := availability(typ)
		return gophercloud.EndpointOpts{Region: cfg.Region, Availability: gophercloud.Availability(a)}
	}
	// Trove's overrides replace the catalog: Nova's and Cinder's URL get the service project's id appended;
	// Neutron's and Glance's are their unversioned roots (the clients add the version), a versioned one is
	// taken as it is.
	override := func(url, typ string, withProject bool, version string) *gophercloud.ServiceClient {
		url = strings.TrimRight(url, "/") + "/"
		if withProject && projectID != "" {
			url += projectID + "/"
		}
		sc := &gophercloud.ServiceClient{ProviderClient: provider, Endpoint: url, Type: typ}
		if version != "" && !strings.HasSuffix(url, "/"+version+"/") {
			sc.ResourceBase = url + version + "/"
		}
		return sc
	}
	for _, s := range []struct {
		sc                 **gophercloud.ServiceClient
		url, typ, endpoint string
		withProject        bool
		version            string
		fromCatalog        func(*gophercloud.ProviderClient, gophercloud.EndpointOpts) (*gophercloud.ServiceClient, error)
	}{
		{&d.compute, cfg.ComputeURL, "compute", cfg.ComputeEndpointType, true, "", openstack.NewComputeV2},
		{&d.network, cfg.NetworkURL, "network", cfg.NetworkEndpointType, false, "v2.0", openstack.NewNetworkV2},
		{&d.volume, cfg.VolumeURL, "volumev3", cfg.VolumeEndpointType, true, "", openstack.NewBlockStorageV3},
		{&d.image, cfg.ImageURL, "image", cfg.ImageEndpointType, false, "v2", openstack.NewImageV2},
	} {
		if s.url != "" {
			*s.sc = override(s.url, s.typ, s.withProject, s.version)
			continue
		}
		if *s.sc, err = s.fromCatalog(provider, eo(s.endpoint)); err != nil {
			return nil, fmt.Errorf("openstack: %s endpoint: %w", s.typ, err)
		}
	}
	d.compute.Microversion = ComputeMicroversion
	d.volume.Microversion = VolumeMicroversion
	read := *d.compute
	read.Microversion = computeReadMicroversion
	d.read = &read
	c.register("identity", cfg.AuthURL)
	c.register("compute", d.compute.Endpoint)
	c.register("network", d.network.Endpoint)
	c.register("volumev3", d.volume.Endpoint)
	c.register("image", d.image.Endpoint)
	return d, nil
}

// RequestCounts is how many HTTP requests the driver made per service (compute, network, volumev3, image,
// identity) since New; TokenRequests counts Keystone token issues.
func (d *Driver) RequestCounts() map[string]int { return d.counter.snapshot() }

// notFound reports whether err is an API 404.
func notFound(err error) bool { return gophercloud.ResponseCodeIs(err, http.StatusNotFound) }

// apiMessage is the message an OpenStack API error carries ({"badRequest": {"message": …}},
// {"NeutronError": {"message": …}}, {"error": {"message": …}}), else the error's text.
func apiMessage(err error) string {
	var u gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &u) {
		var body map[string]json.RawMessage
		if json.Unmarshal(u.Body, &body) == nil {
			for _, v := range body {
				var m struct {
					Message string `json:"message"`
				}
				if json.Unmarshal(v, &m) == nil && m.Message != "" {
					return m.Message
				}
			}
		}
		if s := strings.TrimSpace(string(u.Body)); s != "" && len(s) < 500 {
			return s
		}
	}
	return err.Error()
}

// refused reports whether the API refused the request for good (400, 403, 413 quota).
func refused(err error) bool {
	return gophercloud.ResponseCodeIs(err, http.StatusBadRequest) || gophercloud.ResponseCodeIs(err, http.StatusForbidden) ||
		gophercloud.ResponseCodeIs(err, http.StatusRequestEntityTooLarge)
}

// apiError wraps an API error with what was being done; a refusal wraps ErrPermanent and a 404 ErrNotFound,
// and the message is the API's own.
func apiError(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case notFound(err):
		return wrapped{msg: what + ": " + apiMessage(err), errs: []error{compute.ErrNotFound, err}}
	case refused(err):
		return wrapped{msg: what + ": " + apiMessage(err), errs: []error{ErrPermanent, err}}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// wrapped is an error with a message of its own that wraps others (ErrPermanent, ErrNotFound, the cause).
type wrapped struct {
	msg  string
	errs []error
}

func (e wrapped) Error() string   { return e.msg }
func (e wrapped) Unwrap() []error { return e.errs }

// permanentf is an error wrapping ErrPermanent (and compute.ErrNotFound when notFound).
func permanentf(format string, args ...any) error {
	return wrapped{msg: fmt.Sprintf(format, args...), errs: []error{ErrPermanent}}
}

// poll calls check until it reports done, a permanent or not-found error, or timeout passes (the interval
// doubles up to MaxPollInterval). Other errors (a connection reset, a 503) are retried until the deadline.
func (d *Driver) poll(ctx context.Context, timeout time.Duration, what string, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	wait := d.cfg.PollInterval
	var last error
	for {
		done, err := check()
		switch {
		case done:
			return nil
		case err != nil && (errors.Is(err, ErrPermanent) || errors.Is(err, compute.ErrNotFound) || ctx.Err() != nil):
			return err
		case err != nil:
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("timed out after %s waiting for %s (last error: %w)", timeout, what, last)
			}
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, d.cfg.MaxPollInterval)
	}
}
