package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/redact"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// GuestLogConfig is what the guest logs need from the configuration (Trove's guest_log_* options).
type GuestLogConfig struct {
	InstanceID  string   // [DEFAULT] guest_id: the objects' prefix starts with it
	Manager     string   // [DEFAULT] datastore_manager
	Container   string   // [DEFAULT] guest_log_container_name (database_logs)
	Limit       int      // [DEFAULT] guest_log_limit: the largest object a publish writes, in bytes (1000000)
	Expiry      int64    // [DEFAULT] guest_log_expiry: published objects expire after this many seconds (Swift)
	Exposed     []string // [<manager>] guest_log_exposed_logs: the logs non-admins see
	LongQueryMS int      // [<manager>] guest_log_long_query_time
	AgentLog    string   // [DEFAULT] log_file: the guest log ("" = none: the agent logs to stderr)
}

// Kinds of guest log failures (trove.common.exception classes, so the API answers as Trove does).
const (
	kindNotFound           = "NotFound"           // 404
	kindLogAccessForbidden = "LogAccessForbidden" // 403
)

// publishedLog is what this guest published of one log (<state>/guest_logs.json): the bytes published, the
// digest of the file's first line then (a different first line means the file was rotated), and the objects
// written, so discard removes exactly those.
type publishedLog struct {
	Size     int64    `json:"size"`
	Header   string   `json:"header"`
	Objects  []string `json:"objects"`
	Metafile string   `json:"metafile"`
	Seq      int      `json:"seq"`
}

const guestLogsState = "guest_logs.json"

func (a *Agent) loadPublished() (map[string]publishedLog, error) {
	out := map[string]publishedLog{}
	b, err := os.ReadFile(a.path(guestLogsState))
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	return out, json.Unmarshal(b, &out)
}

func (a *Agent) savePublished(p map[string]publishedLog) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return datastore.WriteFileAtomic(a.path(guestLogsState), b, 0o600)
}

// logFile is the file a log is read from.
func (a *Agent) logFile(name string) string {
	if name == "guest" {
		return a.d.GuestLogs.AgentLog
	}
	return datastore.GuestLogFile(a.d.Layout, a.d.GuestLogs.Manager, name)
}

// logPrefix is the objects' name prefix: Trove's <instance id>/<datastore>-<log>/ with '.' for '/' (store
// object names are one path element); the metafile is the prefix without its last '.' plus _metafile, as
// Trove names it.
func (a *Agent) logPrefix(name string) string {
	return a.d.GuestLogs.InstanceID + "." + a.d.GuestLogs.Manager + "-" + name + "."
}

func (a *Agent) logMetafile(name string) string {
	return strings.TrimSuffix(a.logPrefix(name), ".") + "_metafile"
}

// fileState is a log file's size and first-line digest (0 and "" when it does not exist).
func fileState(path string) (int64, string, error) {
	if path == "" {
		return 0, "", nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil && err != io.EOF {
		return 0, "", err
	}
	sum := md5.Sum(line)
	return st.Size(), hex.EncodeToString(sum[:]), nil
}

// showLog is Trove's GuestLog.show(): the status follows from the file against what was published.
func (a *Agent) showLog(def guestapi.LogDef, enabled bool, p publishedLog) (guestapi.GuestLog, error) {
	size, header, err := fileState(a.logFile(def.Name))
	if err != nil {
		return guestapi.GuestLog{}, err
	}
	l := guestapi.GuestLog{Name: def.Name, Type: def.Type, Published: p.Size, Pending: size - p.Size,
		Container: "None", Prefix: "None", Metafile: a.logMetafile(def.Name)}
	if p.Size > 0 {
		l.Container, l.Prefix = a.d.GuestLogs.Container, a.logPrefix(def.Name)
	}
	rotated := p.Size > 0 && (size < p.Size || header != p.Header)
	switch {
	case def.Type == guestapi.LogTypeUser && !enabled:
		l.Status = guestapi.LogDisabled
	case rotated:
		l.Status = guestapi.LogRotated
	case size > p.Size && p.Size > 0:
		l.Status = guestapi.LogPartial
	case size > p.Size:
		l.Status = guestapi.LogReady
	case p.Size > 0:
		l.Status = guestapi.LogPublished
	default:
		l.Status = guestapi.LogEnabled
	}
	if rotated {
		l.Pending = size
	}
	if l.Pending < 0 {
		l.Pending = 0
	}
	return l, nil
}

// GuestLogList is guest_log_list: every log the caller may see (admins: all of them).
func (a *Agent) GuestLogList(_ context.Context, admin bool) ([]guestapi.GuestLog, error) {
	enabled, err := datastore.EnabledLogs(a.d.Layout)
	if err != nil {
		return nil, err
	}
	published, err := a.loadPublished()
	if err != nil {
		return nil, err
	}
	out := []guestapi.GuestLog{}
	for _, def := range guestapi.GuestLogDefs(a.d.GuestLogs.Manager) {
		if !guestapi.LogExposed(def.Name, a.d.GuestLogs.Exposed, admin) {
			continue
		}
		_, on := enabled[def.Name]
		l, err := a.showLog(def, on, published[def.Name])
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// GuestLogAction is guest_log_action, as Trove's guest runs it: enable or disable a USER log (its settings
// applied to the running server and kept for later starts), then discard and/or publish it (publish enables a
// disabled USER log unless told to disable), and show it. creds open the store (Swift: the caller's token and
// object-store endpoint).
func (a *Agent) GuestLogAction(ctx context.Context, args guestapi.GuestLogActionArgs, admin bool, creds backupstore.Credentials) (guestapi.GuestLog, error) {
	name := args.LogName
	def, ok := guestapi.GuestLogDef(a.d.GuestLogs.Manager, name)
	if !ok {
		return guestapi.GuestLog{}, datastore.Errorf(kindNotFound, "Log '%s' is not defined.", redact.Trunc(name, redact.Echo))
	}
	enable, disable, publish, discard := bool(args.Enable), bool(args.Disable), bool(args.Publish), bool(args.Discard)
	if enable && disable {
		return guestapi.GuestLog{}, datastore.Errorf(datastore.KindBadRequest, "Cannot enable and disable log '%s'.", name)
	}
	if publish && !disable {
		enable = true
	}
	if !guestapi.LogExposed(name, a.d.GuestLogs.Exposed, admin) {
		action := "show"
		switch {
		case publish:
			action = "publish"
		case discard:
			action = "discard"
		}
		return guestapi.GuestLog{}, datastore.Errorf(kindLogAccessForbidden, "You must be admin to %s log '%s'.", action, name)
	}
	if def.Type == guestapi.LogTypeSys && !publish && (enable || disable) {
		verb := "enable"
		if disable {
			verb = "disable"
		}
		return guestapi.GuestLog{}, datastore.Errorf(datastore.KindBadRequest, "Cannot %s a SYSTEM log ('%s').", verb, name)
	}
	a.logMu.Lock()
	defer a.logMu.Unlock()
	enabled, err := datastore.EnabledLogs(a.d.Layout)
	if err != nil {
		return guestapi.GuestLog{}, err
	}
	_, on := enabled[name]
	if def.Type == guestapi.LogTypeUser && ((on && disable) || (!on && enable)) {
		if err := a.switchLog(ctx, name, enable, enabled); err != nil {
			return guestapi.GuestLog{}, err
		}
		on = enable
	}
	published, err := a.loadPublished()
	if err != nil {
		return guestapi.GuestLog{}, err
	}
	p := published[name]
	if discard || publish {
		store, err := a.logStore(creds)
		if err != nil {
			return guestapi.GuestLog{}, err
		}
		if discard {
			p, err = a.discardLog(ctx, store, p)
		}
		if err == nil && publish {
			p, err = a.publishLog(ctx, store, def, p)
		}
		published[name] = p
		if serr := a.savePublished(published); err == nil {
			err = serr
		}
		if err != nil {
			return guestapi.GuestLog{}, err
		}
	}
	return a.showLog(def, on, p)
}

// switchLog turns a USER log on or off: the record first (so the configuration file the server reads at start
// has it), then the running server.
func (a *Agent) switchLog(ctx context.Context, name string, enable bool, enabled map[string]map[string]string) error {
	on, off := datastore.GuestLogSettings(a.d.Layout, a.d.GuestLogs.Manager, name, a.d.GuestLogs.LongQueryMS)
	if enable {
		enabled[name] = on
	} else {
		delete(enabled, name)
	}
	err := func() error {
		a.lifecycle.Lock() // no server (re)start reads the file half-written
		defer a.lifecycle.Unlock()
		a.ovrMu.Lock()
		defer a.ovrMu.Unlock()
		if err := datastore.SaveEnabledLogs(a.d.Layout, enabled); err != nil {
			return err
		}
		o, err := datastore.LoadOverrides(a.d.Layout)
		if err != nil {
			return err
		}
		return a.mgr.WriteOverrides(o.Values)
	}()
	if err != nil {
		return err
	}
	values := on
	if !enable {
		values = off
	}
	err = a.Shared(func(m datastore.Manager) error {
		restart, err := m.ApplyOverrides(ctx, values, nil)
		if err == nil && len(restart) > 0 {
			a.d.Log.WithField("log", name).WithField("pending", restart).Warn("guest log settings wait for a restart")
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("applying the settings of log '%s': %w", name, err)
	}
	a.d.Log.WithField("log", name).WithField("enabled", enable).Info("guest log switched")
	return nil
}

func (a *Agent) logStore(creds backupstore.Credentials) (backupstore.Store, error) {
	if a.d.Storage == nil {
		return nil, datastore.Errorf("LogsNotAvailable", "Log actions are not supported.")
	}
	return a.d.Storage("", a.d.GuestLogs.Container, creds)
}

// discardLog deletes every object published of the log and its metafile.
func (a *Agent) discardLog(ctx context.Context, store backupstore.Store, p publishedLog) (publishedLog, error) {
	for i, loc := range append(append([]string(nil), p.Objects...), p.Metafile) {
		if loc == "" {
			continue
		}
		if err := store.Delete(ctx, loc); err != nil {
			if i < len(p.Objects) {
				p.Objects = p.Objects[i:]
			}
			return p, fmt.Errorf("discarding published log objects: %w", err)
		}
	}
	return publishedLog{Seq: p.Seq}, nil
}

// publishLog uploads what the file gained since the last publish (whole lines only: a line being written
// waits for the next publish), in objects of at most guest_log_limit bytes cut at line ends, then the
// metafile. A rotated file (smaller, or another first line) discards the old objects first.
func (a *Agent) publishLog(ctx context.Context, store backupstore.Store, def guestapi.LogDef, p publishedLog) (publishedLog, error) {
	path := a.logFile(def.Name)
	size, header, err := fileState(path)
	if err != nil {
		return p, err
	}
	if _, serr := os.Stat(path); path == "" || serr != nil {
		return p, datastore.Errorf("GuestError", "Cannot publish log file '%s' as it does not exist.", def.Name)
	}
	if p.Size > 0 && (size < p.Size || header != p.Header) {
		a.d.Log.WithField("log", def.Name).Info("log file rotated: discarding what was published of it")
		if p, err = a.discardLog(ctx, store, p); err != nil {
			return p, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return p, err
	}
	defer f.Close()
	if _, err := f.Seek(p.Size, io.SeekStart); err != nil {
		return p, err
	}
	limit := a.d.GuestLogs.Limit
	if limit <= 0 {
		limit = 1000000
	}
	r := bufio.NewReader(io.LimitReader(f, size-p.Size))
	var chunk bytes.Buffer
	lines := 0
	flush := func() error {
		if chunk.Len() == 0 {
			return nil
		}
		p.Seq++
		name := fmt.Sprintf("%slog-%s-%06d", a.logPrefix(def.Name), time.Now().UTC().Format("20060102T150405.000000Z"), p.Seq)
		// x-object-meta-lines: what python-troveclient's `log tail` counts lines by (as Trove's guest sets it)
		obj, err := backupstore.PutAttrs(ctx, store, name, bytes.NewReader(chunk.Bytes()),
			backupstore.Attrs{Meta: map[string]string{"lines": strconv.Itoa(lines)}, DeleteAfter: a.d.GuestLogs.Expiry})
		if err != nil {
			return fmt.Errorf("publishing log '%s': %w", def.Name, err)
		}
		p.Objects = append(p.Objects, obj.Location)
		p.Size += int64(chunk.Len())
		p.Header = header
		chunk.Reset()
		lines = 0
		return nil
	}
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break // an unfinished line: the next publish takes it
		}
		if err != nil {
			return p, err
		}
		if chunk.Len() > 0 && chunk.Len()+len(line) > limit {
			if err := flush(); err != nil {
				return p, err
			}
		}
		chunk.Write(line)
		lines++
	}
	if err := flush(); err != nil {
		return p, err
	}
	if p.Size == 0 {
		p.Header = header
	}
	meta, _ := json.Marshal(map[string]any{"log_name": def.Name, "log_type": def.Type, "log_file": filepath.Base(path),
		"log_size": p.Size, "log_header_digest": header})
	if p.Metafile != "" { // Put never replaces an object
		if err := store.Delete(ctx, p.Metafile); err != nil {
			return p, fmt.Errorf("replacing the metafile of log '%s': %w", def.Name, err)
		}
		p.Metafile = ""
	}
	obj, err := backupstore.PutAttrs(ctx, store, a.logMetafile(def.Name), bytes.NewReader(meta), backupstore.Attrs{DeleteAfter: a.d.GuestLogs.Expiry})
	if err != nil {
		return p, fmt.Errorf("publishing the metafile of log '%s': %w", def.Name, err)
	}
	p.Metafile = obj.Location
	a.d.Log.WithField("log", def.Name).WithField("published", p.Size).WithField("objects", len(p.Objects)).Info("guest log published")
	return p, nil
}
