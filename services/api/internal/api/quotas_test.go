package api

import (
	"context"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/trove-go/trove/pkg/keystone"
	"github.com/trove-go/trove/pkg/keystone/keystonetest"
	"github.com/trove-go/trove/pkg/testenv"
)

// A quota update names a project that exists: a target longer than the catalog column was a 500, an unknown
// project got quota rows (issue 12). Both are 404 now, and nothing is written.
func TestQuotaTargetMustBeAProject(t *testing.T) {
	e := newEnv(t)
	pa := "/v1.0/" + projAdmin + "/mgmt/quotas/"
	body := `{"quotas": {"instances": 7}}`
	for _, target := range []string{strings.Repeat("a", 37), strings.Repeat("b", 4000), "44444444444444444444444444444444",
		projDemo + "%20", "%20" + projDemo} {
		r := e.do("admin", "PUT", pa+target, body)
		if r.Code != 404 || r.faultName() != "itemNotFound" || !strings.HasPrefix(r.faultMessage(), "Project ") || len(r.Raw) > 300 {
			t.Errorf("PUT quotas for %.50q: %d %s", target, r.Code, r.Raw)
		}
	}
	if n := e.count("SELECT COUNT(*) FROM quotas"); n != 0 {
		t.Errorf("%d quota rows written for projects that do not exist", n)
	}
	if r := e.do("admin", "PUT", pa+projDemo, body); r.Code != 200 {
		t.Errorf("PUT quotas for demo: %d %s", r.Code, r.Raw)
	}
	// Keystone down: 503, not "no such project".
	e.api.projects = keystonetest.StaticValidator{Err: keystone.ErrUnavailable}
	if r := e.do("admin", "PUT", pa+projDemo2, body); r.Code != 503 {
		t.Errorf("Keystone down: %d %s", r.Code, r.Raw)
	}
}

// The same against the real Keystone, through the API's own Keystone client (as trove-api wires it).
func TestQuotaTargetCheckedWithKeystone(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	kc, err := keystone.New(ctx, keystone.Config{AuthURL: testenv.KeystoneURL(t), Username: "trove",
		Password: testenv.Get(t, testenv.ServicePassword), ProjectName: "service", UserDomainName: "Default", ProjectDomainName: "Default"})
	if err != nil {
		t.Fatal(err)
	}
	e.api = New(Deps{Config: e.api.cfg, Catalog: e.db, Validator: kc, Policy: e.api.policy, TaskManager: e.tm, Log: e.api.log})
	e.h = e.api.Handler()
	admin := login(t, "admin", testenv.Get(t, testenv.KeystoneAdminPassword), "admin")
	demo := login(t, "demo", testenv.Get(t, testenv.DemoPassword), "demo")
	adminTok, err := kc.Validate(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	demoTok, err := kc.Validate(ctx, demo)
	if err != nil {
		t.Fatal(err)
	}
	pa := "/v1.0/" + adminTok.ProjectID + "/mgmt/quotas/"
	body := `{"quotas": {"instances": 7}}`
	if r := e.do(admin, "PUT", pa+demoTok.ProjectID, body); r.Code != 200 || !strings.Contains(r.Raw, `"instances":7`) {
		t.Errorf("PUT quotas for demo's project: %d %s", r.Code, r.Raw)
	}
	for _, target := range []string{strings.ToUpper(demoTok.ProjectID), "00000000000000000000000000000000", demoTok.ProjectID + "%20"} {
		if r := e.do(admin, "PUT", pa+target, body); r.Code != 404 {
			t.Errorf("PUT quotas for %q: %d %s", target, r.Code, r.Raw)
		}
	}
	if n := e.count("SELECT COUNT(*) FROM quotas"); n != 1 {
		t.Errorf("%d quota rows, want demo's one", n)
	}
}

// login returns a project-scoped token of a Keystone user.
func login(t *testing.T, user, password, project string) string {
	t.Helper()
	pc, err := openstack.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{
		IdentityEndpoint: testenv.KeystoneURL(t), Username: user, Password: password, DomainID: "default",
		Scope: &gophercloud.AuthScope{ProjectName: project, DomainID: "default"},
	})
	if err != nil {
		t.Fatalf("log in as %s: %v", user, err)
	}
	return pc.Token()
}
