package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/config"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and returns the file paths.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile := writeCert(t)
	cfg := testConfig()
	cfg.BindHost, cfg.BindPort, cfg.CertFile, cfg.KeyFile = "127.0.0.1", 0, certFile, keyFile
	a := New(Deps{Config: cfg})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, func(addr net.Addr) { addrc <- addr }) }()
	addr := (<-addrc).String()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	for _, c := range []struct {
		max uint16
		ok  bool
	}{{tls.VersionTLS11, false}, {tls.VersionTLS12, true}, {tls.VersionTLS13, true}} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: c.max}}}
		resp, err := client.Get("https://" + addr + "/healthcheck")
		if c.ok != (err == nil) {
			t.Errorf("TLS max version %x: err %v", c.max, err)
		}
		if err == nil {
			if resp.StatusCode != 200 || resp.Header.Get("X-OpenStack-Request-ID") == "" {
				t.Errorf("healthcheck over TLS: %d", resp.StatusCode)
			}
			resp.Body.Close()
		}
	}
	if resp, err := http.Get("http://" + addr + "/healthcheck"); err == nil && resp.StatusCode == 200 {
		t.Errorf("plain HTTP served on the TLS port")
	}
}

func TestConfigFrom(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trove.conf")
	text := `[DEFAULT]
bind_port = 9999
enable_secure_rpc_messaging = false
max_accepted_volume_size = 50
max_instances_per_tenant = 3
instances_page_size = 7
http_get_rate = 100
admin_roles = admin, cloud-admin

[local_flavors]
10 = large,4096,2,20
11 = xl, 8192, 4, 40

[mysql]
volume_support = false
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := config.LoadFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ConfigFrom(file)
	if err != nil {
		t.Fatal(err)
	}
	if c.BindPort != 9999 || c.BindHost != "0.0.0.0" || c.EnableSecureRPC || c.MaxAcceptedVolumeSize != 50 || c.Quotas.Instances != 3 ||
		c.Quotas.Volumes != 40 || c.InstancesPageSize != 7 || c.RateLimits["GET"] != 100 || len(c.RateLimits) != 1 || len(c.AdminRoles) != 2 {
		t.Errorf("config %+v", c)
	}
	if len(c.Flavors) != 2 || c.Flavors[1] != (Flavor{ID: "11", Name: "xl", RAM: 8192, VCPUs: 4, Disk: 40}) {
		t.Errorf("flavors %+v", c.Flavors)
	}
	if c.manager("mysql").VolumeSupport || !c.manager("postgresql").VolumeSupport {
		t.Errorf("managers %+v", c.Managers)
	}

	empty, _ := config.Parse("")
	d, err := ConfigFrom(empty)
	if err != nil || d.BindPort != 8779 || !d.EnableSecureRPC || len(d.Flavors) != 2 || d.Flavors[0].Name != "tiny" || d.RateLimits != nil {
		t.Errorf("defaults %+v %v", d, err)
	}
	for _, bad := range []string{"[local_flavors]\n1 = tiny,512\n", "[DEFAULT]\nbind_port = x\n", "[ssl]\ncert_file = /x\n"} {
		p := filepath.Join(dir, "bad.conf")
		if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := config.LoadFiles(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ConfigFrom(f); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
