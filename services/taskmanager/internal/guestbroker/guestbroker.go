// Package guestbroker gives each instance's guest agent a RabbitMQ account of its own (beyond Trove, issue 12):
// created through the broker's management HTTP API before the guest starts, written into the guest's copy of
// guest_config instead of the control plane's credentials, and removed when the instance is deleted or its
// build fails. The account may consume only the instance's own queues and publish only to the conductor's topic
// on the control exchange (RabbitMQ topic permissions) and replies on the default exchange. docs/deploy.md §2.3.
package guestbroker

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/guestapi"
)

// Section is the configuration section of these options (ours).
const Section = "guest_broker"

// Config is [guest_broker] of the taskmanager's configuration.
type Config struct {
	// PerGuestAccounts (per_guest_accounts, default false): give every new or rebuilt guest its own account.
	// Off, guests get guest_config's transport_url unchanged (Trove's behaviour: one shared account).
	PerGuestAccounts bool
	// ManagementURL, ManagementUser, ManagementPassword (management_url, _user, _password): the RabbitMQ
	// management HTTP API and an account tagged administrator. Never copied into a guest.
	ManagementURL      string
	ManagementUser     string
	ManagementPassword string
	// ManagementCAFile (management_ca_file): CA bundle for an https management_url ("" = system roots).
	ManagementCAFile string
	// ManagementTimeout (management_timeout, seconds, default 10): per management API request.
	ManagementTimeout time.Duration
	// PythonGuestsSharedAccount (python_guests_shared_account, default false): legacy mode for instances whose
	// guest agent is Trove's Python agent (recorded envelope trove or plain): they keep guest_config's shared
	// account, since oslo.messaging declares the control exchange and cannot run on a restricted account. Off,
	// building or rebuilding such an instance fails with a fault that names this option.
	PythonGuestsSharedAccount bool
}

// ConfigFrom reads [guest_broker]; conversion errors are collected in f.Err().
func ConfigFrom(f *config.File) Config {
	return Config{
		PerGuestAccounts:          f.Bool(Section, "per_guest_accounts", false),
		ManagementURL:             f.String(Section, "management_url", "http://127.0.0.1:15672"),
		ManagementUser:            f.String(Section, "management_user", ""),
		ManagementPassword:        f.String(Section, "management_password", ""),
		ManagementCAFile:          f.String(Section, "management_ca_file", ""),
		ManagementTimeout:         f.Seconds(Section, "management_timeout", 10),
		PythonGuestsSharedAccount: f.Bool(Section, "python_guests_shared_account", false),
	}
}

// UserName is the broker account of an instance's guest.
func UserName(instanceID string) string { return "trove-guest-" + instanceID }

// Grant is what one guest's account may do on one vhost: RabbitMQ's configure/write/read regexes and the topic
// permissions on the control exchange.
type Grant struct {
	Vhost                  string
	Configure, Write, Read string
	Exchange               string // the control exchange the topic permissions apply to
	TopicWrite, TopicRead  string // routing keys it may publish with / bind with on Exchange
}

// GrantFor is the least an instance's Go guest agent needs (pkg/rpc with PassiveControlExchange):
//   - configure (declare/delete): its queues guestagent.<id>, guestagent.<id>.<id>, its fanout exchange
//     guestagent.<id>_fanout and fanout queues guestagent.<id>_fanout_<hex> — never the control exchange (it is
//     declared passively, which needs no permission), another guest's or the control plane's queues;
//   - write: amq.default (replies to callers' reply_<hex> queues), the control exchange (casts to the conductor;
//     the topic permission limits the routing key to conductor_queue) and its own queues (queue.bind needs
//     write on the queue);
//   - read: the control exchange and its fanout exchange (queue.bind needs read on the source; the topic
//     permission limits binding keys on the control exchange to its own two topics) and its own queues
//     (consume).
func GrantFor(instanceID, vhost, exchange, conductorTopic string) Grant {
	topic := regexp.QuoteMeta(guestapi.Topic(instanceID))
	server := `\.` + regexp.QuoteMeta(instanceID)
	ex := regexp.QuoteMeta(exchange)
	return Grant{
		Vhost:      vhost,
		Configure:  `^` + topic + `(` + server + `|_fanout|_fanout_[0-9a-f]+)?$`,
		Write:      `^(amq\.default|` + ex + `|` + topic + `(` + server + `|_fanout_[0-9a-f]+)?)$`,
		Read:       `^(` + ex + `|` + topic + `(` + server + `|_fanout|_fanout_[0-9a-f]+)?)$`,
		Exchange:   exchange,
		TopicWrite: `^` + regexp.QuoteMeta(conductorTopic) + `$`,
		TopicRead:  `^` + topic + `(` + server + `)?$`,
	}
}

// NewPassword is a fresh account password: 128 bits from crypto/rand (base32, URL-safe).
func NewPassword() string { return rand.Text() }

// WithAccount returns transportURL (oslo's rabbit://u:p@h1:5672,u:p@h2/vhost?query) with every host's
// credentials replaced by user and password.
func WithAccount(transportURL, user, password string) (string, error) {
	u, err := url.Parse(transportURL)
	if err != nil || u.Scheme == "" {
		return "", errors.New("guestbroker: transport_url is not a URL")
	}
	rest := strings.TrimPrefix(transportURL, u.Scheme+"://")
	tail := ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest, tail = rest[:i], rest[i:]
	}
	if rest == "" {
		rest = "localhost:5672"
	}
	cred := url.UserPassword(user, password).String()
	hosts := strings.Split(rest, ",")
	for i, h := range hosts {
		if at := strings.LastIndex(h, "@"); at >= 0 {
			h = h[at+1:]
		}
		hosts[i] = cred + "@" + h
	}
	return u.Scheme + "://" + strings.Join(hosts, ",") + tail, nil
}

// Vhost is the virtual host a transport_url names ("/" when it names none, as kombu does).
func Vhost(transportURL string) (string, error) {
	u, err := url.Parse(transportURL)
	if err != nil {
		return "", errors.New("guestbroker: transport_url is not a URL")
	}
	rest := strings.TrimPrefix(transportURL, u.Scheme+"://")
	i := strings.Index(rest, "/")
	if i < 0 {
		return "/", nil
	}
	v := rest[i+1:]
	if j := strings.Index(v, "?"); j >= 0 {
		v = v[:j]
	}
	if v, err = url.PathUnescape(v); err != nil {
		return "", fmt.Errorf("guestbroker: transport_url vhost: %w", err)
	}
	if v == "" {
		return "/", nil
	}
	return v, nil
}

// GuestConfig returns the guest's copy of guest_config with [DEFAULT] transport_url set to transportURL,
// transport_url removed from every other section (oslo then uses the RPC transport, so no other credentials
// travel), any [guest_broker] section dropped (its options are the control plane's) and
// `[guest_broker] restricted_account = true` appended (pkg/rpc declares the control exchange passively).
func GuestConfig(text, transportURL string) string {
	var out []string
	section, set, skipping := "DEFAULT", false, false
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		trim := strings.TrimSpace(line)
		if skipping && trim != "" && (line[0] == ' ' || line[0] == '\t') {
			continue // a continuation line of a dropped value
		}
		skipping = false
		if strings.HasPrefix(trim, "[") && strings.HasSuffix(trim, "]") {
			if section == "DEFAULT" && !set && len(out) > 0 {
				out = append(out, "transport_url = "+transportURL)
				set = true
			}
			section = strings.TrimSpace(trim[1 : len(trim)-1])
			if section == Section {
				continue
			}
			out = append(out, line)
			continue
		}
		if section == Section {
			continue
		}
		if key(trim) == "transport_url" && line[0] != ' ' && line[0] != '\t' {
			skipping = true
			if section == "DEFAULT" && !set {
				out = append(out, "transport_url = "+transportURL)
				set = true
			}
			continue
		}
		out = append(out, line)
	}
	switch {
	case !set && section == "DEFAULT":
		out = append(out, "transport_url = "+transportURL)
	case !set:
		// the file starts with another section: put [DEFAULT] first
		out = append([]string{"[DEFAULT]", "transport_url = " + transportURL, ""}, out...)
	}
	out = append(out, "", "["+Section+"]",
		"# Written by the taskmanager: this guest's own broker account may not declare the control exchange.",
		"restricted_account = true")
	return strings.Join(out, "\n") + "\n"
}

// key is the option name of an INI line ("" for comments, blanks and continuation lines).
func key(trim string) string {
	if trim == "" || trim[0] == '#' || trim[0] == ';' {
		return ""
	}
	if i := strings.IndexAny(trim, "=:"); i > 0 {
		return strings.TrimSpace(trim[:i])
	}
	return ""
}

// httpTransport is the management API's HTTP transport (TLS roots from management_ca_file).
func httpTransport(cfg Config) (http.RoundTripper, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.ManagementCAFile != "" {
		pool, err := loadCAs(cfg.ManagementCAFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return tr, nil
}
