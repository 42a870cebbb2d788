package guestbroker

import (
	"context"
	"errors"
	"fmt"

	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/config"
)

// ErrPythonGuest is returned for an instance whose guest agent is Trove's Python agent while
// python_guests_shared_account is off: oslo.messaging declares the control exchange, which a restricted
// account may not.
var ErrPythonGuest = errors.New("the instance's guest agent is Trove's Python agent, which cannot run on a restricted broker " +
	"account (oslo.messaging declares the control exchange); set [guest_broker] python_guests_shared_account = true " +
	"to let such guests keep the shared account")

// Accounts issues and revokes guests' accounts for the taskmanager's flows.
type Accounts struct {
	Admin  *Admin
	Config Config
	// Defaults for what guest_config does not set: the taskmanager's own [DEFAULT] transport_url,
	// control_exchange and conductor_queue.
	TransportURL, ControlExchange, ConductorTopic string
}

// NewAccounts returns the taskmanager's Accounts, or nil when per_guest_accounts is off.
func NewAccounts(cfg Config, f *config.File) (*Accounts, error) {
	if !cfg.PerGuestAccounts {
		return nil, nil
	}
	admin, err := NewAdmin(cfg)
	if err != nil {
		return nil, err
	}
	return &Accounts{Admin: admin, Config: cfg,
		TransportURL:    f.String("DEFAULT", "transport_url", "rabbit://"),
		ControlExchange: f.String("DEFAULT", "control_exchange", "openstack"),
		ConductorTopic:  f.String("DEFAULT", "conductor_queue", conductorapi.DefaultTopic),
	}, nil
}

// GuestConfig gives the instance's guest its own account with a fresh password (created, or its password and
// permissions replaced: a rebuilt guest gets a new one) and returns guestConfig (the controller's guest_config
// text) rewritten to use it. The broker, vhost, exchange and conductor topic are the guest's: those of
// guestConfig, else the taskmanager's. python (Trove's Python agent) keeps guestConfig unchanged when
// python_guests_shared_account is on, and is ErrPythonGuest otherwise.
func (a *Accounts) GuestConfig(ctx context.Context, instanceID, guestConfig string, python bool) (string, error) {
	if python {
		if a.Config.PythonGuestsSharedAccount {
			return guestConfig, nil
		}
		return "", ErrPythonGuest
	}
	gf, err := config.Parse(guestConfig)
	if err != nil {
		return "", fmt.Errorf("guest_config: %w", err)
	}
	base := gf.String("DEFAULT", "transport_url", a.TransportURL)
	exchange := gf.String("DEFAULT", "control_exchange", a.ControlExchange)
	conductor := gf.String("DEFAULT", "conductor_queue", a.ConductorTopic)
	vhost, err := Vhost(base)
	if err != nil {
		return "", err
	}
	user, password := UserName(instanceID), NewPassword()
	url, err := WithAccount(base, user, password)
	if err != nil {
		return "", err
	}
	if err := a.Admin.Put(ctx, user, password, GrantFor(instanceID, vhost, exchange, conductor)); err != nil {
		return "", err
	}
	return GuestConfig(guestConfig, url), nil
}

// Revoke removes the instance's guest account (none is fine); RabbitMQ closes its connections.
func (a *Accounts) Revoke(ctx context.Context, instanceID string) error {
	return a.Admin.Delete(ctx, UserName(instanceID))
}
