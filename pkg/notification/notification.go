// Package notification is the one place Trove's notifications leave a service (rpc.md §A.8, states.md §7,
// Trove's trove/common/notification.py): the usage events trove.instance.create|modify_volume|modify_flavor|
// delete|exists that billing consumes, and the dbaas.<event>.start|end|error events of API operations, on the
// oslo.messaging notification wire through rpc.Notifier.
package notification

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/rpc"
)

// UnknownServiceID is Trove's service_id for a datastore manager missing from notification_service_id.
const UnknownServiceID = "unknown-service-id-error"

// DefaultServiceIDs is Trove's notification_service_id default.
var DefaultServiceIDs = map[string]string{
	"mysql": "2f3ff068-2bfb-4f70-9a9d-a6bb65bc084b", "percona": "fd1723f5-68d2-409c-994f-a4a197892a17",
	"pxc": "75a628c3-f81b-4ffb-b10a-4087c26bc854", "redis": "b216ffc5-1947-456c-a4cf-70f94c05f7d0",
	"cassandra": "459a230d-4e97-4344-9067-2a54a310b0ed", "couchbase": "fa62fe68-74d9-4779-a24e-36f19602c415",
	"mongodb": "c8c907af-7375-456f-b929-b637ff9209ee", "postgresql": "ac277e0d-4f21-40aa-b347-1ea31e571720",
	"couchdb": "f0a9ab7b-66f7-4352-93d7-071521d44c7c", "vertica": "a8d805ae-a3b2-c4fd-gb23-b62cee5201ae",
	"db2": "e040cd37-263d-4869-aaa6-c62aa97523b5", "mariadb": "7a4f82cc-10d2-4bc6-aadc-d9aacc2a3cb5",
}

// Config is what shapes the notifications: [oslo_messaging_notifications] and Trove's [DEFAULT] options.
type Config struct {
	rpc.NotifyConfig
	Host       string            // [DEFAULT] host: publisher ids (<service>.<host>, usage events <host>)
	Region     string            // [DEFAULT] region (LOCAL_DEV)
	ServiceIDs map[string]string // [DEFAULT] notification_service_id: manager → service_id
	// ExistsTransformer is [DEFAULT] exists_notification_transformer: Trove publishes trove.instance.exists
	// only when it is set (any value: the Go taskmanager has one transformer, Trove's NotificationTransformer).
	ExistsTransformer string
	ExistsInterval    time.Duration // [DEFAULT] exists_notification_interval (3600 s): period and audit window
	// QuotaInterval is [DEFAULT] quota_notification_interval: the taskmanager emits dbaas.quota for every tenant
	// and resource this often; unset or 0 (Trove's default) emits none.
	QuotaInterval time.Duration
}

// ConfigFrom reads the options with Trove's defaults.
func ConfigFrom(f *config.File) (Config, error) {
	nc, err := rpc.NotifyConfigFrom(f)
	c := Config{NotifyConfig: nc, Host: f.String("DEFAULT", "host", "0.0.0.0"), Region: f.String("DEFAULT", "region", "LOCAL_DEV"),
		ServiceIDs: DefaultServiceIDs, ExistsTransformer: f.String("DEFAULT", "exists_notification_transformer", ""),
		ExistsInterval: f.Seconds("DEFAULT", "exists_notification_interval", 3600),
		QuotaInterval:  f.Seconds("DEFAULT", "quota_notification_interval", 0)}
	if ids := f.List("DEFAULT", "notification_service_id", nil); len(ids) > 0 {
		c.ServiceIDs = map[string]string{}
		for _, kv := range ids {
			k, v, ok := strings.Cut(kv, ":")
			if !ok {
				return c, fmt.Errorf("[DEFAULT] notification_service_id: %q is not manager:id", kv)
			}
			c.ServiceIDs[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if err == nil && c.ExistsInterval <= 0 {
		err = fmt.Errorf("[DEFAULT] exists_notification_interval must be positive")
	}
	if err == nil && c.QuotaInterval < 0 {
		err = fmt.Errorf("[DEFAULT] quota_notification_interval must not be negative (0 or unset: no dbaas.quota)")
	}
	return c, err
}

// Notifier emits notifications with the configured driver. The zero-driver (noop) Notifier emits nothing; a
// nil *Notifier is a noop too.
type Notifier struct {
	cfg  Config
	wire *rpc.Notifier // messaging / messagingv2
	own  *rpc.Transport
	log  logrus.FieldLogger
	now  func() time.Time
}

// New builds the notifier. With a broker driver it publishes on rpcTransport, or on a transport of its own when
// [oslo_messaging_notifications] transport_url names another broker (rpcCfg gives the other wire options).
func New(ctx context.Context, cfg Config, rpcCfg rpc.Config, rpcTransport *rpc.Transport, log *logrus.Entry) (*Notifier, error) {
	n := &Notifier{cfg: cfg, log: log.WithField("component", "notification"), now: time.Now}
	if !cfg.OnBroker() {
		return n, nil
	}
	tr := rpcTransport
	if cfg.TransportURL != "" && cfg.TransportURL != rpcCfg.TransportURL {
		c := rpcCfg
		c.TransportURL = cfg.TransportURL
		var err error
		if tr, err = rpc.Dial(ctx, c, log); err != nil {
			return nil, fmt.Errorf("notifications: %w", err)
		}
		n.own = tr
	}
	n.wire = &rpc.Notifier{T: tr, Topics: cfg.Topics}
	return n, nil
}

// Close closes a transport of the notifier's own.
func (n *Notifier) Close() {
	if n != nil && n.own != nil {
		_ = n.own.Close()
	}
}

// Enabled reports whether notifications are emitted at all (driver other than noop).
func (n *Notifier) Enabled() bool {
	return n != nil && n.cfg.Driver != "" && n.cfg.Driver != "noop"
}

// Config returns the notifier's configuration.
func (n *Notifier) Config() Config { return n.cfg }

// emit sends one notification; a failure is logged (a notification never fails the operation it reports).
func (n *Notifier) emit(ctx context.Context, rc rpc.Context, m rpc.Notification) {
	if !n.Enabled() {
		return
	}
	if n.wire == nil {
		n.log.WithField("event_type", m.EventType).WithField("publisher_id", m.PublisherID).
			WithField("payload", m.Payload).Info("notification")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := n.wire.Notify(ctx, rc, m); err != nil {
		n.log.WithError(err).WithField("event_type", m.EventType).Error("notification not sent")
	}
}

// Instance is what a usage event says about an instance (TroveBaseTraits / TroveCommonTraits).
type Instance struct {
	ID, Name, TenantID, UserID string
	FlavorID, FlavorName       string
	RAM                        int // MB: instance_size
	ServerID, VolumeID         string
	VolumeSize                 int // GB; 0: no volume (not reported)
	Created                    time.Time
	Status                     string // API status (ACTIVE, BUILD, …); reported lower case as Trove does
	Manager                    string // datastore manager: service_id
	AvailabilityZone           string
}

// Isotime is oslo's timeutils.isotime: seconds, Z.
func Isotime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func (n *Notifier) serviceID(manager string) string {
	if id, ok := n.cfg.ServiceIDs[manager]; ok {
		return id
	}
	n.log.WithField("manager", manager).Error("datastore manager missing from notification_service_id")
	return UnknownServiceID
}

// usagePayload is send_usage_event's payload (trove/taskmanager/models.py NotifyMixin).
func (n *Notifier) usagePayload(in Instance) map[string]any {
	created := Isotime(in.Created)
	var az any
	if in.AvailabilityZone != "" {
		az = in.AvailabilityZone
	}
	p := map[string]any{
		"availability_zone": az, "created_at": created, "name": in.Name, "instance_id": in.ID,
		"instance_name": in.Name, "instance_size": in.RAM, "instance_type": in.FlavorName,
		"instance_type_id": in.FlavorID, "launched_at": created, "nova_instance_id": in.ServerID,
		"region": n.cfg.Region, "state_description": strings.ToLower(in.Status), "state": strings.ToLower(in.Status),
		"tenant_id": in.TenantID, "user_id": in.UserID, "service_id": n.serviceID(in.Manager),
	}
	if in.VolumeSize > 0 {
		p["volume_size"], p["nova_volume_id"] = in.VolumeSize, in.VolumeID
	}
	return p
}

// Usage event names (trove.instance.<event>).
const (
	EventCreate       = "create"
	EventDelete       = "delete"
	EventModifyVolume = "modify_volume"
	EventModifyFlavor = "modify_flavor"
	EventExists       = "exists"
)

// InstanceUsage emits trove.instance.<event> for in (publisher_id = [DEFAULT] host, as Trove), the payload
// extended by extra (deleted_at, old_instance_size, modify_at, …). rc is the context of the request the event
// ends (its auth token is never sent).
func (n *Notifier) InstanceUsage(ctx context.Context, rc rpc.Context, event string, in Instance, extra map[string]any) {
	if !n.Enabled() {
		return
	}
	p := n.usagePayload(in)
	for k, v := range extra {
		p[k] = v
	}
	rc.AuthToken = ""
	n.emit(ctx, rc, rpc.Notification{PublisherID: n.cfg.Host, EventType: "trove.instance." + event, Priority: "INFO", Payload: p})
}

// Exists emits trove.instance.exists for each instance (Trove's NotificationTransformer: the audit period is
// the exists_notification_interval before now), with the service's own context (no token).
func (n *Notifier) Exists(ctx context.Context, instances []Instance, now time.Time) {
	if !n.Enabled() {
		return
	}
	start, end := Isotime(now.Add(-n.cfg.ExistsInterval)), Isotime(now)
	for _, in := range instances {
		created := Isotime(in.Created)
		p := map[string]any{
			"audit_period_beginning": start, "audit_period_ending": end, "created_at": created,
			"display_name": in.Name, "instance_id": in.ID, "instance_name": in.Name, "instance_type_id": in.FlavorID,
			"launched_at": created, "nova_instance_id": in.ServerID, "region": n.cfg.Region,
			"state_description": strings.ToLower(in.Status), "state": strings.ToLower(in.Status),
			"tenant_id": in.TenantID, "service_id": n.serviceID(in.Manager),
		}
		n.emit(ctx, rpc.Context{}, rpc.Notification{PublisherID: "taskmanager." + n.cfg.Host,
			EventType: "trove.instance.exists", Priority: "INFO", Payload: p})
	}
}

// Quota is one tenant's quota resource for dbaas.quota.
type Quota struct {
	Resource               string
	InUse, Reserved, Limit int
	Updated                time.Time // zero: never used
}

// Quota emits Trove's DBaaSQuotas: dbaas.quota with resource, in_use, reserved, limit and updated (the usage
// row's time as oslo's to_primitive writes a datetime, null when never used), published as [DEFAULT] host (Trove
// passes the host as publisher_id) with the service's context. Trove's payload does not say whose quota it is;
// ours adds tenant_id.
func (n *Notifier) Quota(ctx context.Context, tenant string, q Quota) {
	if !n.Enabled() {
		return
	}
	var updated any
	if !q.Updated.IsZero() {
		updated = q.Updated.UTC().Format("2006-01-02T15:04:05.000000")
	}
	p := map[string]any{"resource": q.Resource, "in_use": q.InUse, "reserved": q.Reserved, "limit": q.Limit, "updated": updated,
		"tenant_id": tenant}
	n.emit(ctx, rpc.Context{}, rpc.Notification{PublisherID: n.cfg.Host, EventType: "dbaas.quota",
		Priority: "INFO", Payload: p})
}

// Serialized is a DBaaS notification as it crosses RPC in trove_notification / serialized_notification: its
// payload plus notification_classname (e.g. trove.common.notification.DBaaSInstanceCreate).
type Serialized map[string]any

// ClassPrefix is the module of Trove's notification classes.
const ClassPrefix = "trove.common.notification."

// NewDBaaS returns the notification of class (DBaaSInstanceCreate, …) for an API request: Trove's base traits
// (request_id, server_type api, client_ip, server_ip, tenant_id) and the operation's traits.
func NewDBaaS(class, requestID, clientIP, serverIP, tenantID string, traits map[string]any) Serialized {
	s := Serialized{"notification_classname": ClassPrefix + class, "request_id": requestID, "server_type": "api",
		"client_ip": clientIP, "server_ip": serverIP, "tenant_id": tenantID}
	for k, v := range traits {
		s[k] = v
	}
	return s
}

var camel = regexp.MustCompile(`[A-Z][a-z0-9]*`)

// EventType is the class's event_type(): DBaaSInstanceResizeVolume → instance_resize_volume (DBaaSInstanceUpgrade
// → upgrade and DBaaSInstanceMigrate → migrate, as Trove names them).
func EventType(classname string) string {
	c := strings.TrimPrefix(classname[strings.LastIndex(classname, ".")+1:], "DBaaS")
	switch c {
	case "InstanceUpgrade":
		return "upgrade"
	case "InstanceMigrate":
		return "migrate"
	case "Quotas":
		return "quota"
	}
	words := camel.FindAllString(c, -1)
	for i := range words {
		words[i] = strings.ToLower(words[i])
	}
	return strings.Join(words, "_")
}

// DBaaS emits dbaas.<event>.<qualifier> (start, end, error) for a serialized notification, the payload being
// its traits plus extra (end traits such as instance_id; message and exception on error). publisher_id is
// <server_type>.<host>: the server_type the notification carries (api, taskmanager, guest; a guest's
// notification is emitted by the conductor on its behalf, as in Trove).
func (n *Notifier) DBaaS(ctx context.Context, rc rpc.Context, s Serialized, qualifier string, extra map[string]any) {
	if !n.Enabled() || s == nil {
		return
	}
	class, _ := s["notification_classname"].(string)
	p := make(map[string]any, len(s)+len(extra))
	for k, v := range s {
		if k != "notification_classname" {
			p[k] = v
		}
	}
	for k, v := range extra {
		p[k] = v
	}
	serverType, _ := p["server_type"].(string)
	if serverType == "" {
		serverType = "api"
	}
	rc.AuthToken = ""
	n.emit(ctx, rc, rpc.Notification{PublisherID: serverType + "." + n.cfg.Host,
		EventType: "dbaas." + EventType(class) + "." + qualifier, Priority: "INFO", Payload: p})
}
