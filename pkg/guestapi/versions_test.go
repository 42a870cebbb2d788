package guestapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/rpc"
)

func TestParseCap(t *testing.T) {
	for in, want := range map[string]string{
		"latest": "1.3", "icehouse": "1.0", "ussuri": "1.0", "victoria": "1.1", " Zed ": "1.1", "yoga": "1.1",
		"2024.1": "1.1", "2024.2": "1.1", "epoxy": "1.2", "flamingo": "1.2", "gazpacho": "1.2", "hibiscus": "1.3",
		"1.0": "1.0", "1.1": "1.1", "1.2": "1.2", "1.7": "1.7",
	} {
		c, err := ParseCap(in)
		if err != nil || c.Version != want || c.Setting != strings.TrimSpace(in) {
			t.Errorf("ParseCap(%q) = %+v, %v; want version %s", in, c, err, want)
		}
	}
	for _, in := range []string{"", "ocata", "train", "1", "2.0", "0.9", "1.x", "v1.1"} {
		if c, err := ParseCap(in); err == nil || !strings.Contains(err.Error(), "[upgrade_levels] guestagent") {
			t.Errorf("ParseCap(%q) = %+v, %v; want an error naming the option", in, c, err)
		}
	}
	f, err := config.Parse("[DEFAULT]\n")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := CapFrom(f); err != nil || c != LatestCap {
		t.Errorf("default cap %+v %v", c, err)
	}
	f, _ = config.Parse("[upgrade_levels]\nguestagent = victoria\n")
	if c, err := CapFrom(f); err != nil || c.Version != "1.1" {
		t.Errorf("victoria cap %+v %v", c, err)
	}
}

func TestAgentFor(t *testing.T) {
	for rec, want := range map[string]Agent{"": AgentUnknown, "trove": AgentPython, "plain": AgentPython, "aead": AgentGo} {
		if got := AgentFor(rec); got != want {
			t.Errorf("AgentFor(%q) = %v, want %v", rec, got, want)
		}
	}
}

// The table of trove/guestagent/api.py, capped per agent: Trove's agent gets what the cap allows (older forms
// below 1.1), ours everything up to its own version whatever the cap, an unrecorded one what the cap allows.
func TestPeerVersionFor(t *testing.T) {
	cap := func(s string) Cap {
		c, err := ParseCap(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	type want map[string]string // method → version, or "!" for refused
	for _, tc := range []struct {
		name string
		peer Peer
		want want
	}{
		{"Trove's agent under latest", Peer{Agent: AgentPython}, want{
			MethodPrepare: "1.1", MethodListDatabases: "1.0", MethodGetFilesystemStats: "1.0", MethodRestart: "1.0",
			MethodStopDB: "1.1", MethodResizeFS: "1.1", MethodStartDBWithConfChanges: "1.1", MethodPreCreateBackup: "1.2",
			MethodSSLShow: "1.3", MethodRotateRPCKey: "!", "some_future_method": "1.0"}},
		{"Trove's agent capped zed", Peer{Agent: AgentPython, Cap: cap("zed")}, want{
			MethodPrepare: "1.1", MethodListDatabases: "1.0", MethodStopDB: "1.1", MethodPreCreateBackup: "!",
			MethodPostCreateBackup: "!", MethodSSLAction: "!"}},
		{"Trove's agent capped 1.2", Peer{Agent: AgentPython, Cap: cap("1.2")}, want{
			MethodPreCreateBackup: "1.2", MethodSSLRollback: "!"}},
		{"Trove's agent capped ussuri", Peer{Agent: AgentPython, Cap: cap("ussuri")}, want{
			MethodPrepare: "1.0", MethodStopDB: "1.0", MethodResizeFS: "1.0", MethodStartDBWithConfChanges: "1.0",
			MethodRestart: "1.0", MethodPreCreateBackup: "!"}},
		{"ours ignores the cap", Peer{Agent: AgentGo, Cap: cap("ussuri")}, want{
			MethodPrepare: "1.1", MethodStopDB: "1.1", MethodPreCreateBackup: "1.2", MethodSSLShow: "1.3",
			MethodRotateRPCKey: "1.0"}},
		{"unrecorded agent: capped, our methods sent", Peer{Cap: cap("1.0")}, want{
			MethodPrepare: "1.0", MethodRotateRPCKey: "1.0", MethodSSLShow: "!"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for m, v := range tc.want {
				got, err := tc.peer.VersionFor(m)
				var ue *UnsupportedError
				switch {
				case v == "!" && !errors.As(err, &ue):
					t.Errorf("%s: %q, %v; want refused", m, got, err)
				case v == "!" && rpc.Kind(err) != "GuestError":
					t.Errorf("%s: kind %q, want GuestError", m, rpc.Kind(err))
				case v != "!" && (err != nil || got != v):
					t.Errorf("%s: %q, %v; want %s", m, got, err, v)
				}
			}
		})
	}
	_, err := Peer{InstanceID: "i-1", Agent: AgentPython, Cap: cap("zed")}.VersionFor(MethodPreCreateBackup)
	if want := "guest method pre_create_backup needs guest RPC version 1.2 but instance i-1 (Trove's Python guest agent) is capped at 1.1 by [upgrade_levels] guestagent = zed"; err == nil || err.Error() != want {
		t.Errorf("cap fault %q\nwant      %q", err, want)
	}
	_, err = Peer{InstanceID: "i-1", Agent: AgentPython}.VersionFor(MethodRotateRPCKey)
	if want := "guest method rotate_rpc_key is trove-go's own and instance i-1 runs Trove's Python guest agent, which does not have it"; err == nil || err.Error() != want {
		t.Errorf("ours fault %q\nwant       %q", err, want)
	}
}
