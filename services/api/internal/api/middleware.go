package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/keystone"
	"github.com/trove-go/trove/pkg/logging"
	"github.com/trove-go/trove/pkg/policy"
	"github.com/trove-go/trove/pkg/redact"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/api/internal/fault"
	"github.com/trove-go/trove/services/api/internal/schema"
)

var errNoRoute = &fault.Error{Status: http.StatusNotFound, Name: "itemNotFound", Message: "The resource could not be found."}

// requestContext is what the middleware learned about a request.
type requestContext struct {
	RequestID string
	// GlobalRequestID is an inbound X-OpenStack-Request-ID (req-<uuid>), forwarded in RPC contexts.
	GlobalRequestID string
	Token           *keystone.Token // nil outside /v1.0
	IsAdmin         bool
	base            baseURL
	// remoteAddr and host are the request's, for notifications (client_ip, server_ip).
	remoteAddr, host string
	// route is the matched route template (metrics); "" for none.
	route   string
	baseLog *logrus.Entry
	log     *logrus.Entry // built on first use: most requests log nothing
}

// logger is the request's log entry: request id, and user and project once authenticated.
func (rc *requestContext) logger() *logrus.Entry {
	if rc.log == nil {
		f := logrus.Fields{"request_id": rc.RequestID}
		if rc.Token != nil {
			f["user_id"], f["project_id"] = rc.Token.UserID, rc.Token.ProjectID
		}
		rc.log = rc.baseLog.WithFields(f)
	}
	return rc.log
}

type ctxKey struct{}

func reqCtx(r *http.Request) *requestContext {
	rc, _ := r.Context().Value(ctxKey{}).(*requestContext)
	return rc
}

// creds is the policy view of the caller.
func (rc *requestContext) creds() policy.Credentials {
	return policy.Credentials{Roles: rc.Token.Roles, ProjectID: rc.Token.ProjectID, UserID: rc.Token.UserID, IsAdmin: rc.IsAdmin}
}

// rpcContext is the request context sent with taskmanager casts.
func (rc *requestContext) rpcContext() rpc.Context {
	t := rc.Token
	return rpc.Context{UserID: t.UserID, ProjectID: t.ProjectID, DomainID: t.DomainID, UserName: t.UserName,
		ProjectName: t.ProjectName, IsAdmin: rc.IsAdmin, Roles: t.Roles, RequestID: rc.RequestID,
		GlobalRequestID: rc.GlobalRequestID, ServiceCatalog: t.Catalog}
}

// statusRecorder remembers the status for the access log line.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// withRequestID gives every response X-OpenStack-Request-ID: req-<uuid4>, puts the id on every log line of the
// request and recovers panics into Trove's 500 body.
func (a *API) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := "req-" + uuid.NewString()
		w.Header().Set("X-OpenStack-Request-ID", id)
		rc := &requestContext{RequestID: id, base: baseFor(r, a.cfg.PublicEndpoint), baseLog: a.log, remoteAddr: r.RemoteAddr, host: r.Host}
		if g := r.Header.Get("X-OpenStack-Request-ID"); isRequestID(g) {
			rc.GlobalRequestID = g
		}
		ctx := logging.WithRequestID(context.WithValue(r.Context(), ctxKey{}, rc), id)
		rec := &statusRecorder{ResponseWriter: w}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				rc.logger().WithField("panic", p).WithField("stack", string(debug.Stack())).Error("handler panicked")
				if rec.status == 0 {
					fault.Write(rec, fault.Internal(id, errors.New("panic")))
				}
			}
			drainBody(r)
			if a.metrics != nil {
				a.metrics.Observe(r.Method, rc.route, rec.status, time.Since(start))
			}
			if rec.status < 500 && !a.log.Logger.IsLevelEnabled(logrus.DebugLevel) {
				return
			}
			entry := rc.logger().WithFields(logrus.Fields{"method": r.Method, "path": redact.Trunc(r.URL.Path, maxLoggedPath), "status": rec.status,
				"duration_ms": float64(time.Since(start).Microseconds()) / 1000})
			if rec.status >= 500 {
				entry.Warn("request")
			} else {
				entry.Debug("request")
			}
		}()
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

// maxLoggedPath bounds the path of an access log line (characters).
const maxLoggedPath = 512

// maxDrain is how much of a request body nobody read (a 413, a refusal before the body was looked at) is read
// and dropped after the answer is written: a client that sends its whole body before it reads then gets the
// fault instead of a reset connection (a TLS EOF). A larger rest closes the connection. A client that sent
// Expect: 100-continue is never asked for its body.
const maxDrain = 64 << 20

func drainBody(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.Header.Get("Expect") != "" {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain))
}

// isRequestID accepts oslo's global request id form, req-<uuid>.
func isRequestID(s string) bool {
	rest, ok := strings.CutPrefix(s, "req-")
	return ok && schema.IsUUID(rest) && !strings.HasSuffix(rest, "\n")
}

// unauthorized is keystonemiddleware's 401.
func (a *API) unauthorized(w http.ResponseWriter) {
	if a.wwwAuth != "" {
		w.Header().Set("WWW-Authenticate", a.wwwAuth)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`)
}

// tenantInPath is TenantBasedAuth's ^/(?P<tenant_id>.*?)/.* against the path after /v1.0 ("" = no match).
func tenantInPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/v1.0/")
	if !ok {
		return "", false
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", false
	}
	return rest[:i], true
}

// authenticate validates X-Auth-Token (cached by the Validator), checks that the path's tenant is the token's
// project, computes is_admin, and applies rate limits.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := reqCtx(r)
		token := r.Header.Get("X-Auth-Token")
		if token == "" {
			rc.logger().Info("request without X-Auth-Token")
			a.unauthorized(w)
			return
		}
		tok, err := a.validator.Validate(r.Context(), token)
		if err != nil {
			if errors.Is(err, keystone.ErrInvalidToken) {
				rc.logger().Info("invalid token")
				a.unauthorized(w)
				return
			}
			rc.logger().WithError(err).Error("token validation failed")
			fault.Write(w, fault.Unavailable("The identity service is unavailable."))
			return
		}
		rc.Token = tok
		if t, ok := tenantInPath(r.URL.Path); !ok || t != tok.ProjectID {
			fault.Write(w, fault.Forbidden("User with tenant id %s cannot access this resource.", tok.ProjectID))
			return
		}
		rc.base.tenant = tok.ProjectID // the path's tenant (the path may have been rewritten by negotiate)
		rc.IsAdmin = a.policy.IsAdmin(policy.Credentials{Roles: tok.Roles, ProjectID: tok.ProjectID, UserID: tok.UserID})
		if a.limiter != nil {
			if e := a.limiter.take(tok.ProjectID, r.Method); e != nil {
				fault.Write(w, e)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// wrap renders a handler's error once: faults as Trove's fault body, schema errors as 400, anything else as
// the 500 instanceFault whose id points to the log line.
func (a *API) wrap(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.metrics != nil {
			if cr := mux.CurrentRoute(r); cr != nil {
				if rc := reqCtx(r); rc != nil {
					rc.route, _ = cr.GetPathTemplate()
				}
			}
		}
		err := h(w, r)
		if err == nil {
			return
		}
		rc := reqCtx(r)
		f := asFault(err)
		if f == nil {
			f = fault.Internal(rc.RequestID, err)
			rc.logger().WithError(err).Error("internal error")
		} else if f.Status >= 500 {
			rc.logger().WithError(err).Error("request failed")
		} else {
			rc.logger().WithField("status", f.Status).Info(f.Bounded())
		}
		fault.Write(w, f)
	})
}

// asFault maps the errors handlers return to faults; nil means "internal".
func asFault(err error) *fault.Error {
	if f := fault.As(err); f != nil {
		return f
	}
	var se *schema.Error
	if errors.As(err, &se) {
		return fault.BadRequest("%s", se.Error())
	}
	var me *schema.MalformedError
	if errors.As(err, &me) {
		return fault.BadRequest("%s", me.Error())
	}
	var na *policy.NotAuthorized
	if errors.As(err, &na) {
		return fault.Forbidden("%s", na.Error())
	}
	return nil
}

// enforce checks a policy rule against the object's owner project.
func (a *API) enforce(rc *requestContext, rule, tenant string) error {
	return a.policy.Enforce(rule, rc.creds(), map[string]string{"tenant": tenant})
}

// enforceIf is enforce, or nothing for the empty rule (routes Trove checks no policy on: ownership only).
func (a *API) enforceIf(rc *requestContext, rule, tenant string) error {
	if rule == "" {
		return nil
	}
	return a.enforce(rc, rule, tenant)
}

// requireAdmin is the mgmt routes' hard-coded check (Trove's Forbidden → 401).
func requireAdmin(rc *requestContext) error {
	if !rc.IsAdmin {
		return fault.NotAdmin()
	}
	return nil
}

// readBody reads and decodes a JSON body. As in Trove, a body without Content-Type is ignored ({}); a
// non-JSON Content-Type is 415; more than MaxBodyBytes is 413.
func (a *API) readBody(r *http.Request) (any, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, a.cfg.MaxBodyBytes))
		return map[string]any{}, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return nil, fault.New(http.StatusUnsupportedMediaType, "Unsupported Content-Type")
	}
	if r.ContentLength > a.cfg.MaxBodyBytes {
		return nil, fault.OverLimit("Request body is larger than %d bytes.", a.cfg.MaxBodyBytes)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, a.cfg.MaxBodyBytes+1))
	if err != nil {
		return nil, fault.BadRequest("Malformed message body: %v", err)
	}
	if int64(len(data)) > a.cfg.MaxBodyBytes {
		return nil, fault.OverLimit("Request body is larger than %d bytes.", a.cfg.MaxBodyBytes)
	}
	if len(data) == 0 {
		return map[string]any{}, nil
	}
	return schema.Decode(data)
}

// writeJSON renders a success body.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeRaw(w, status, b)
}

// writeRaw sends an already encoded JSON body.
func writeRaw(w http.ResponseWriter, status int, b []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// writeEmpty is wsgi.Result(None, status): empty body, JSON content type.
func writeEmpty(w http.ResponseWriter, status int) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
	return nil
}
