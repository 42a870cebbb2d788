package guestbroker

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
)

// Admin creates and removes guest accounts through the RabbitMQ management HTTP API (rabbit-hole). The
// password never crosses the API: only its salted SHA-256 hash is sent (RabbitMQ's own format).
type Admin struct {
	c *rabbithole.Client
}

// NewAdmin returns a management API client for cfg (management_url, _user, _password, _ca_file, _timeout).
func NewAdmin(cfg Config) (*Admin, error) {
	if cfg.ManagementURL == "" || cfg.ManagementUser == "" || cfg.ManagementPassword == "" {
		return nil, errors.New("[guest_broker] per_guest_accounts needs management_url, management_user and management_password")
	}
	tr, err := httpTransport(cfg)
	if err != nil {
		return nil, err
	}
	c, err := rabbithole.NewTLSClient(cfg.ManagementURL, cfg.ManagementUser, cfg.ManagementPassword, tr)
	if err != nil {
		return nil, fmt.Errorf("[guest_broker] management_url: %w", err)
	}
	if cfg.ManagementTimeout > 0 {
		c.SetTimeout(cfg.ManagementTimeout)
	}
	return &Admin{c: c}, nil
}

// Check asks the API who the management account is: a wrong URL or password shows at start.
func (a *Admin) Check(ctx context.Context) error {
	return do(ctx, func() error {
		who, err := a.c.Whoami()
		if err != nil {
			return fmt.Errorf("rabbitmq management API: %w", err)
		}
		for _, t := range who.Tags {
			if t == "administrator" {
				return nil
			}
		}
		return fmt.Errorf("rabbitmq management API: user %s is not tagged administrator (needed to manage guest accounts)", who.Name)
	})
}

// Put creates the user (or gives an existing one a new password) with exactly the grant's permissions.
func (a *Admin) Put(ctx context.Context, user, password string, g Grant) error {
	return do(ctx, func() error {
		res, err := a.c.PutUser(user, rabbithole.UserSettings{
			Tags:             rabbithole.UserTags{},
			PasswordHash:     rabbithole.Base64EncodedSaltedPasswordHashSHA256(password),
			HashingAlgorithm: rabbithole.HashingAlgorithmSHA256,
		})
		if err = closed(res, err); err != nil {
			return fmt.Errorf("creating broker user %s: %w", user, err)
		}
		res, err = a.c.UpdatePermissionsIn(g.Vhost, user, rabbithole.Permissions{Configure: g.Configure, Write: g.Write, Read: g.Read})
		if err = closed(res, err); err != nil {
			return fmt.Errorf("setting permissions of broker user %s: %w", user, err)
		}
		res, err = a.c.UpdateTopicPermissionsIn(g.Vhost, user, rabbithole.TopicPermissions{Exchange: g.Exchange, Write: g.TopicWrite, Read: g.TopicRead})
		if err = closed(res, err); err != nil {
			return fmt.Errorf("setting topic permissions of broker user %s: %w", user, err)
		}
		return nil
	})
}

// Delete removes the user (its permissions go with it; RabbitMQ closes its connections). A missing user is not
// an error.
func (a *Admin) Delete(ctx context.Context, user string) error {
	return do(ctx, func() error {
		res, err := a.c.DeleteUser(user)
		if err = closed(res, err); err != nil {
			return fmt.Errorf("deleting broker user %s: %w", user, err)
		}
		return nil
	})
}

// Exists reports whether the user exists (tests, checks).
func (a *Admin) Exists(ctx context.Context, user string) (bool, error) {
	var found bool
	err := do(ctx, func() error {
		_, err := a.c.GetUser(user)
		var re rabbithole.ErrorResponse
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}

// do runs a management request (rabbit-hole takes no context; management_timeout bounds each request) unless
// ctx has already ended.
func do(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn()
}

func closed(res *http.Response, err error) error {
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	return err
}

func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("[guest_broker] management_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("[guest_broker] management_ca_file %s: no PEM certificate", file)
	}
	return pool, nil
}
