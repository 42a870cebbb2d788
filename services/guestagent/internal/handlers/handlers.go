// Package handlers binds the guest RPC methods (rpc.md §B.3) to the agent: one file per method, each stating
// whether it is a call or a cast, how it is ordered against the instance's other messages, whether its payload
// may be logged, and whether it must resume after an agent restart. Errors leave as trove.common.exception
// classes (datastore error kinds).
//
// Order (Handlers.Order, the server's rpc.ServerConfig.Order): every method that changes the instance is an
// rpc.Write — applied alone, in the order the messages were sent — and list_*/get_*/is_root_enabled/pre_upgrade
// are rpc.Read, so a list call sees every cast sent before it. rpc_ping and get_filesystem_stats are
// rpc.Unordered: they answer while a long prepare, restart or upgrade runs. No handler waits for another message
// of this guest, so the order cannot deadlock; the agent's lifecycle lock still keeps SQL away from a server
// being (re)started, including by a prepare resumed at agent start outside any message.
package handlers

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/redact"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/agent"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// Notifier forwards trove_notification results to the conductor (conductorapi.Client).
type Notifier interface {
	NotifyEnd(ctx context.Context, rc rpc.Context, a conductorapi.NotifyEndArgs) error
	NotifyExcInfo(ctx context.Context, rc rpc.Context, a conductorapi.NotifyExcInfoArgs) error
}

// Handlers serves the guest methods.
type Handlers struct {
	Agent    *agent.Agent
	Notifier Notifier
	GuestID  string
	Log      *logrus.Entry
	// Keys rotates the instance RPC key (rotate_rpc_key); nil refuses rotations.
	Keys Rotator
	// Backups reports create_backup's progress (conductorapi.Client).
	Backups BackupReporter

	orders map[string]rpc.Ordering // filled by Register, before the server starts
}

// Order is the server's rpc.ServerConfig.Order: each registered method's ordering, Write for any other.
func (h *Handlers) Order(method string) rpc.Ordering {
	if o, ok := h.orders[method]; ok {
		return o
	}
	return rpc.Write
}

// Register binds every method to srv (build srv with Order: h.Order).
func (h *Handlers) Register(srv *rpc.Server) {
	h.orders = map[string]rpc.Ordering{}
	for _, r := range []func(*rpc.Server){
		h.registerPrepare, h.registerRestart, h.registerStopDB, h.registerGetFilesystemStats, h.registerResizeFS,
		h.registerCreateDatabase, h.registerListDatabases, h.registerDeleteDatabase,
		h.registerCreateUser, h.registerListUsers, h.registerGetUser, h.registerUpdateAttributes,
		h.registerDeleteUser, h.registerChangePasswords,
		h.registerListAccess, h.registerGrantAccess, h.registerRevokeAccess,
		h.registerEnableRoot, h.registerEnableRootWithPassword, h.registerDisableRoot, h.registerIsRootEnabled,
		h.registerRPCPing, h.registerPreUpgrade, h.registerUpgrade, h.registerPostUpgrade,
		h.registerRotateRPCKey, h.registerCreateBackup, h.registerGetRecoveryWindow, h.registerGetContentManifest,
		h.registerUpdateOverrides, h.registerApplyOverrides, h.registerResetConfiguration, h.registerStartDBWithConfChanges,
		h.registerGetReplicaContext, h.registerAttachReplica, h.registerDetachReplica, h.registerMakeReadOnly,
		h.registerGetLatestTxnID, h.registerWaitForTxn,
		h.registerGuestLogList, h.registerGuestLogAction,
	} {
		r(srv)
	}
}

// spec describes one method for the shared wrapper.
type spec struct {
	name    string
	order   rpc.Ordering // against the instance's other messages; explicit in every method's file
	logArgs bool         // the payload holds no secret and may be logged
	notify  bool         // forward trove_notification's end/error to the conductor (Trove's guest EndNotification)
	// fault is the Trove notification class a failure is reported under (notify_exc_info → a fault on the
	// instance) when the caller sent no trove_notification: a cast's failure is seen by nobody else.
	fault string
}

// handle registers fn under s.name with logging, error-kind mapping and notification forwarding.
func handle[A rpc.Validator, R any](h *Handlers, srv *rpc.Server, s spec, fn func(ctx context.Context, rc rpc.Context, a A) (R, error)) {
	h.orders[s.name] = s.order
	rpc.Register(srv, s.name, func(ctx context.Context, rc rpc.Context, a A) (R, error) {
		log := h.Log.WithFields(logrus.Fields{"method": s.name, "request_id": rc.RequestID})
		if s.logArgs {
			if b, err := json.Marshal(a); err == nil {
				log = log.WithField("args", string(b))
			}
		}
		start := time.Now()
		r, err := fn(ctx, rc, a)
		log = log.WithField("ms", time.Since(start).Milliseconds())
		if err != nil {
			log.WithError(err).Warn("guest method failed")
		} else {
			log.Info("guest method done")
		}
		if s.notify && h.Notifier != nil {
			h.forward(ctx, rc, s, err)
		}
		return r, remote(err)
	})
}

func (h *Handlers) forward(ctx context.Context, rc rpc.Context, s spec, err error) {
	var n map[string]any
	if len(rc.Notification) > 0 && json.Unmarshal(rc.Notification, &n) != nil {
		return
	}
	if n == nil {
		if err == nil || s.fault == "" {
			return
		}
		n = h.notification(rc, s.fault)
	}
	if agent.IsReported(err) { // the agent sent its own fault (prepare)
		return
	}
	var ferr error
	if err == nil {
		ferr = h.Notifier.NotifyEnd(ctx, rc, conductorapi.NotifyEndArgs{SerializedNotification: n, NotificationArgs: map[string]any{}})
	} else {
		n["instance_id"] = h.GuestID
		ferr = h.Notifier.NotifyExcInfo(ctx, rc, conductorapi.NotifyExcInfoArgs{
			SerializedNotification: n, Message: err.Error(), Exception: []string{err.Error()}})
	}
	if ferr != nil {
		h.Log.WithError(ferr).Warn("notification not forwarded")
	}
}

// Trove's notification classes for what the guest reports on its own.
const (
	ClassInstanceCreate     = "trove.common.notification.DBaaSInstanceCreate"
	classDatabaseCreate     = "trove.common.notification.DBaaSDatabaseCreate"
	classDatabaseDelete     = "trove.common.notification.DBaaSDatabaseDelete"
	classUserCreate         = "trove.common.notification.DBaaSUserCreate"
	classUserDelete         = "trove.common.notification.DBaaSUserDelete"
	classUserUpdate         = "trove.common.notification.DBaaSUserUpdateAttributes"
	classUserChangePassword = "trove.common.notification.DBaaSUserChangePassword"
)

// notification is a serialized_notification of class for a message that came without one, with the base
// traits a Python conductor needs to rebuild it (rpc.md §A.4).
func (h *Handlers) notification(rc rpc.Context, class string) map[string]any {
	return Notification(class, h.GuestID, rc.ProjectID, rc.RequestID)
}

// Notification is a serialized_notification of a Trove class about this instance, for a failure the guest
// reports without a caller's trove_notification (agent faults at prepare use it too).
func Notification(class, instanceID, projectID, requestID string) map[string]any {
	if requestID == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80 // a version 4 UUID, as oslo.context makes them
		requestID = fmt.Sprintf("req-%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	}
	return map[string]any{"notification_classname": class, "request_id": requestID, "server_type": "guest",
		"tenant_id": projectID, "client_ip": nil, "server_ip": nil, "instance_id": instanceID}
}

// named prefixes a failure with what it was about (a name cut to redact.Echo), keeping its kind.
func named(err error, format, name string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, redact.Trunc(name, redact.Echo)), err)
}

// remote maps datastore error kinds to oslo failures of trove.common.exception.
func remote(err error) error {
	if err == nil {
		return nil
	}
	if k := datastore.KindOf(err); k != "" {
		return rpc.Errorf(k, "%s", err.Error())
	}
	return rpc.Errorf("GuestError", "%s", err.Error())
}

// void is the result of methods that return nothing.
type void = rpc.Void
