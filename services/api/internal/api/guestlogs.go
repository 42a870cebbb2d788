package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/redact"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/api/internal/fault"
)

// guestLogList is GET /instances/{id}/log (Trove's guest_log_list): policy instance:guest_log_list, then the
// guest's list for the caller (SYS logs, and logs [<manager>] guest_log_exposed_logs does not name, are
// admins' only — the guest decides from the context's is_admin).
func (a *API) guestLogList(w http.ResponseWriter, r *http.Request) error {
	rc, _, _, g, err := a.guestInstance(r, "instance:guest_log_list")
	if err != nil {
		return err
	}
	logs, err := g.GuestLogList(r.Context(), backupRPCContext(r, rc))
	if err != nil {
		return guestLogFault(err)
	}
	return writeJSON(w, http.StatusOK, map[string][]guestapi.GuestLog{"logs": logs})
}

// guestLogAction is POST /instances/{id}/log (Trove's guest_log_action): no policy rule, as Trove — the
// instance must be the caller's. The body is validated here (Trove applies no schema and answers a missing
// name with a 500): name is a non-empty string naming one of the datastore's logs (else 404, Trove's guest's
// "Log '…' is not defined."), the flags are booleans or numbers, enable and disable not both. The guest
// call carries the caller's token: publish and discard act on the caller's object store.
func (a *API) guestLogAction(w http.ResponseWriter, r *http.Request) error {
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	args, err := parseGuestLogAction(doc)
	if err != nil {
		return err
	}
	rc, row, rules, g, err := a.guestInstance(r, "")
	if err != nil {
		return err
	}
	if _, ok := guestapi.GuestLogDef(rules.Manager, args.LogName); !ok {
		return fault.New(http.StatusNotFound, "Log '%s' is not defined.", redact.Trunc(args.LogName, redact.Echo))
	}
	l, err := g.GuestLogAction(r.Context(), backupRPCContext(r, rc), args)
	if err != nil {
		return guestLogFault(err)
	}
	rc.logger().WithField("instance_id", row.ID).WithField("log", args.LogName).WithField("status", l.Status).Info("guest log action")
	return writeJSON(w, http.StatusOK, map[string]guestapi.GuestLog{"log": l})
}

// parseGuestLogAction reads {"name": …, "enable"|"disable"|"publish"|"discard": 0|1|true|false}.
func parseGuestLogAction(doc any) (guestapi.GuestLogActionArgs, error) {
	var a guestapi.GuestLogActionArgs
	m, ok := doc.(map[string]any)
	if !ok {
		return a, fault.BadRequest("The request body must be an object with the log's name.")
	}
	name, ok := m["name"].(string)
	if !ok || name == "" {
		return a, fault.BadRequest("Log action needs the log's name: {\"name\": \"<log>\"}.")
	}
	a.LogName = name
	for key, flag := range map[string]*guestapi.LogFlag{"enable": &a.Enable, "disable": &a.Disable, "publish": &a.Publish, "discard": &a.Discard} {
		switch v := m[key].(type) {
		case nil:
		case bool:
			*flag = guestapi.LogFlag(v)
		case float64:
			*flag = v != 0
		case json.Number:
			f, err := v.Float64()
			if err != nil {
				return a, fault.BadRequest("'%s' must be a boolean or 0/1.", key)
			}
			*flag = f != 0
		default:
			return a, fault.BadRequest("'%s' must be a boolean or 0/1, not %s.", key, redact.Trunc(fmt.Sprint(v), redact.Echo))
		}
	}
	if a.Enable && a.Disable {
		return a, fault.BadRequest("Cannot enable and disable log.")
	}
	return a, nil
}

// guestLogFault maps the guest's log errors to Trove's faults: NotFound 404, LogAccessForbidden 403 ("You must
// be admin to … log '…'."), LogsNotAvailable 501; anything else as other guest calls (400).
func guestLogFault(err error) error {
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		msg := redact.Trunc(re.Message, 4*redact.Echo)
		switch re.Class {
		case "NotFound":
			return fault.New(http.StatusNotFound, "%s", msg)
		case "LogAccessForbidden":
			return fault.Forbidden("%s", msg)
		case "LogsNotAvailable":
			return fault.NotImplemented("%s", msg)
		case "BadRequest":
			return fault.BadRequest("%s", msg)
		}
	}
	return guestFault(err)
}
