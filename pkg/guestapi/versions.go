package guestapi

import (
	"fmt"
	"sort"
	"strings"

	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/rpc"
)

// Versions of Trove's guest API (trove/guestagent/api.py).
const (
	BaseVersion   = "1.0" // API_BASE_VERSION: what most methods are sent with
	LatestVersion = "1.3" // API_LATEST_VERSION: what [upgrade_levels] guestagent = latest stands for
)

// Trove guest methods this package has no client for, named for the version table.
const (
	MethodPreCreateBackup  = "pre_create_backup"
	MethodPostCreateBackup = "post_create_backup"
	MethodSSLShow          = "ssl_show"
	MethodSSLAction        = "ssl_action"
	MethodSSLRollback      = "ssl_rollback"
)

// sendVersion is how one guest method is sent.
type sendVersion struct {
	version string // the version Trove's guest API sends it with
	// older is the version sent instead, with that version's arguments, when version is above the cap (Trove's
	// can_send_version fallbacks); "" when the method has no older form.
	older string
	ours  bool // trove-go's own method: Trove's guest agent has none such
}

// methodVersions is the one method → version table: every method Trove's guest API (master 4cdc0cda, and
// stable/zed) does not send at BaseVersion, and ours. Any other method is sent at BaseVersion.
var methodVersions = map[string]sendVersion{
	MethodPrepare:                {version: "1.1", older: BaseVersion}, // 1.0: without ds_version
	MethodStartDBWithConfChanges: {version: "1.1", older: BaseVersion}, // 1.0: without ds_version
	MethodStopDB:                 {version: "1.1", older: BaseVersion}, // 1.0: with do_not_start_on_reboot
	MethodResizeFS:               {version: "1.1", older: BaseVersion}, // 1.0: without online
	MethodPreCreateBackup:        {version: "1.2"},
	MethodPostCreateBackup:       {version: "1.2"},
	MethodSSLShow:                {version: "1.3"},
	MethodSSLAction:              {version: "1.3"},
	MethodSSLRollback:            {version: "1.3"},
	MethodRotateRPCKey:           {version: BaseVersion, ours: true},
	MethodGetRecoveryWindow:      {version: BaseVersion, ours: true},
	MethodGetContentManifest:     {version: BaseVersion, ours: true},
}

// releaseCaps are the release names [upgrade_levels] guestagent accepts: every VERSION_ALIASES entry of
// Trove's guest API on any of its branches (each stable branch adds its own name; none lists the others).
var releaseCaps = map[string]string{
	"icehouse": "1.0", "juno": "1.0", "kilo": "1.0", "liberty": "1.0", "mitaka": "1.0", "newton": "1.0",
	"ussuri":   "1.0",
	"victoria": "1.1", "wallaby": "1.1", "xena": "1.1", "yoga": "1.1", "zed": "1.1",
	"2023.1": "1.1", "2023.2": "1.1", "2024.1": "1.1", "2024.2": "1.1",
	"epoxy": "1.2", "flamingo": "1.2", "gazpacho": "1.2",
	"hibiscus": "1.3",
	"latest":   LatestVersion,
}

// Cap is a guest version cap, [upgrade_levels] guestagent: the setting as written and the version it stands
// for. The zero Cap is LatestCap.
type Cap struct {
	Setting string // "zed", "1.1", "latest"
	Version string // "1.1"
}

// LatestCap is [upgrade_levels] guestagent's default (Trove master's): latest, 1.3.
var LatestCap = Cap{Setting: "latest", Version: LatestVersion}

// ParseCap reads a cap as oslo.messaging's version_cap after Trove's alias lookup: a release name, or a
// version "1.N". Unlike Trove, which fails at every send, anything else is refused here.
func ParseCap(s string) (Cap, error) {
	s = strings.TrimSpace(s)
	if v, ok := releaseCaps[strings.ToLower(s)]; ok {
		return Cap{Setting: s, Version: v}, nil
	}
	if strings.Contains(s, ".") && rpc.VersionCompatible(s, BaseVersion) {
		return Cap{Setting: s, Version: s}, nil
	}
	names := make([]string, 0, len(releaseCaps))
	for n := range releaseCaps {
		names = append(names, n)
	}
	sort.Strings(names)
	return Cap{}, fmt.Errorf("[upgrade_levels] guestagent = %q: want a Trove release name (%s) or a guest API version 1.N",
		s, strings.Join(names, ", "))
}

// CapFrom reads [upgrade_levels] guestagent (default latest).
func CapFrom(f *config.File) (Cap, error) {
	return ParseCap(f.String("upgrade_levels", "guestagent", LatestCap.Setting))
}

func (c Cap) orLatest() Cap {
	if c.Version == "" {
		return LatestCap
	}
	return c
}

// Agent is the guest agent an instance runs, as far as the control plane knows (AgentFor).
type Agent int

const (
	// AgentUnknown: nothing recorded (a keyless instance). It is sent what the cap allows; our own methods
	// are sent too (Trove's guest would answer NoSuchMethod).
	AgentUnknown Agent = iota
	// AgentPython is Trove's guest agent: sent what the cap allows, never our own methods.
	AgentPython
	// AgentGo is ours: it accepts every version up to Version, whatever the cap.
	AgentGo
)

func (a Agent) String() string {
	switch a {
	case AgentPython:
		return "Trove's Python guest agent"
	case AgentGo:
		return "the trove-go guest agent"
	}
	return "a guest agent of unrecorded kind"
}

// AgentFor maps the envelope recorded for an instance (catalog.Peer.Recorded) to its agent: aead is ours,
// trove and plain are Trove's, nothing recorded is unknown.
func AgentFor(recorded string) Agent {
	switch rpc.Envelope(recorded) {
	case rpc.EnvelopeNone:
		return AgentUnknown
	case rpc.EnvelopeAEAD:
		return AgentGo
	}
	return AgentPython
}

// Peer is what one instance's guest may be sent.
type Peer struct {
	InstanceID string
	Agent      Agent
	Cap        Cap // [upgrade_levels] guestagent (zero: latest); not applied to AgentGo
}

// limit is the highest version the peer may be sent and what sets it.
func (p Peer) limit() (version, source string) {
	if p.Agent == AgentGo {
		return Version, "its own version"
	}
	c := p.Cap.orLatest()
	return c.Version, "[upgrade_levels] guestagent = " + c.Setting
}

// VersionFor returns the version method is sent to the peer with: Trove's version for it, or the method's
// older version when the cap is below that (the caller then sends that version's arguments). A method the
// peer cannot be sent gives an *UnsupportedError, before anything is sent.
func (p Peer) VersionFor(method string) (string, error) {
	m, ok := methodVersions[method]
	if !ok {
		m = sendVersion{version: BaseVersion}
	}
	if m.ours && p.Agent == AgentPython {
		return "", &UnsupportedError{InstanceID: p.InstanceID, Method: method, Agent: p.Agent}
	}
	limit, source := p.limit()
	for _, v := range []string{m.version, m.older} {
		if v != "" && rpc.VersionCompatible(limit, v) {
			return v, nil
		}
	}
	needed := m.version
	if m.older != "" {
		needed = m.older
	}
	return "", &UnsupportedError{InstanceID: p.InstanceID, Method: method, Agent: p.Agent, Needed: needed, Limit: limit, LimitSource: source}
}

// UnsupportedError is a guest method the instance's guest cannot be sent: its version is above the cap, or it
// is ours and the guest is Trove's. It unwraps to a GuestError (*rpc.RemoteError of trove.common.exception),
// as Trove raises GuestError("Operation requires guest version … or later") in this case, so callers treat it
// like a guest failure: no retry, a 400 at the API, a fault in the taskmanager.
type UnsupportedError struct {
	InstanceID, Method string
	Agent              Agent
	Needed             string // lowest version the method can be sent with; "" for our own methods
	Limit, LimitSource string // the peer's limit and what sets it
}

func (e *UnsupportedError) Error() string {
	if e.Needed == "" {
		return fmt.Sprintf("guest method %s is trove-go's own and instance %s runs %s, which does not have it",
			e.Method, e.InstanceID, e.Agent)
	}
	return fmt.Sprintf("guest method %s needs guest RPC version %s but instance %s (%s) is capped at %s by %s",
		e.Method, e.Needed, e.InstanceID, e.Agent, e.Limit, e.LimitSource)
}

// Unwrap gives rpc.Kind "GuestError".
func (e *UnsupportedError) Unwrap() error { return rpc.Errorf("GuestError", "%s", e.Error()) }
