package api

import (
	"context"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/taskapi"
)

func (m *recordingTM) RotateRPCKey(_ context.Context, rc rpc.Context, a taskapi.RotateRPCKeyArgs) error {
	return m.record(taskapi.MethodRotateRPCKey, rc, a)
}

func (m *recordingTM) RotateRPCKeys(_ context.Context, rc rpc.Context, a taskapi.RotateRPCKeysArgs) error {
	return m.record(taskapi.MethodRotateRPCKeys, rc, a)
}

func TestMgmtRotateRPCKeys(t *testing.T) {
	e := newEnv(t)
	keyed := e.createInstance("demo", "keyed")
	if _, err := e.db.SetPeerEnvelope(context.Background(), keyed, catalog.EnvelopeAEAD); err != nil {
		t.Fatal(err)
	}
	python := e.createInstance("demo", "python") // keyed, no envelope recorded: Trove's guest (envelope trove)
	legacy := e.createInstance("demo", "legacy")
	if err := e.db.SetEncryptedKey(context.Background(), legacy, ""); err != nil {
		t.Fatal(err)
	}
	pa := "/v1.0/" + testTokens["admin"].ProjectID
	pd := "/v1.0/" + testTokens["demo"].ProjectID
	for _, tc := range []struct {
		name, token, path string
		body              any
		code              int
		cast              string // taskmanager method expected, "" none
	}{
		{"non-admin refused", "demo", pd + "/mgmt/instances/" + keyed + "/action", `{"rotate_rpc_key": {}}`, 401, ""},
		{"non-admin bulk refused", "demo", pd + "/mgmt/instances/action", `{"rotate_rpc_keys": {}}`, 401, ""},
		{"rotate one", "admin", pa + "/mgmt/instances/" + keyed + "/action", `{"rotate_rpc_key": {}}`, 202, taskapi.MethodRotateRPCKey},
		{"legacy instance", "admin", pa + "/mgmt/instances/" + legacy + "/action", `{"rotate_rpc_key": {}}`, 400, ""},
		{"Trove's guest agent cannot rotate", "admin", pa + "/mgmt/instances/" + python + "/action", `{"rotate_rpc_key": {}}`, 400, ""},
		{"unknown instance", "admin", pa + "/mgmt/instances/5f1f1d0e-0000-4000-8000-000000000000/action", `{"rotate_rpc_key": {}}`, 404, ""},
		{"unknown action", "admin", pa + "/mgmt/instances/" + keyed + "/action", `{"reboot": {}}`, 400, ""},
		{"rotate all", "admin", pa + "/mgmt/instances/action", `{"rotate_rpc_keys": {}}`, 202, taskapi.MethodRotateRPCKeys},
		{"rotate a project's", "admin", pa + "/mgmt/instances/action", `{"rotate_rpc_keys": {"tenant_id": "abc"}}`, 202, taskapi.MethodRotateRPCKeys},
		{"bad project", "admin", pa + "/mgmt/instances/action", `{"rotate_rpc_keys": {"tenant_id": 7}}`, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.tm.methods())
			r := e.do(tc.token, "POST", tc.path, tc.body)
			if r.Code != tc.code {
				t.Fatalf("code %d: %s", r.Code, r.Raw)
			}
			if tc.path == pa+"/mgmt/instances/"+python+"/action" && !strings.Contains(r.Raw, "rotate_rpc_key is trove-go's own and instance "+python+" runs Trove's Python guest agent") {
				t.Fatalf("fault does not say why: %s", r.Raw)
			}
			m := e.tm.methods()
			switch {
			case tc.cast == "" && len(m) != before:
				t.Fatalf("unexpected cast %v", m[before:])
			case tc.cast != "" && (len(m) != before+1 || m[before] != tc.cast):
				t.Fatalf("casts %v, want %s", m[before:], tc.cast)
			}
		})
	}
}
