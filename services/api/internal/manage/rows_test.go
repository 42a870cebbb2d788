package manage_test

import (
	"context"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/keyring"
)

// syncedCatalog runs db_sync with conf and opens the catalog at dsn (closed at cleanup).
func syncedCatalog(t *testing.T, conf, dsn string) *catalog.DB {
	t.Helper()
	if r := run(t, "--config-file", conf, "db_sync"); r.code != 0 {
		t.Fatalf("db_sync: %+v", r)
	}
	d, err := catalog.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// wrapped is key wrapped under wrapKey (an instances.encrypted_key value).
func wrapped(t *testing.T, wrapKey, key string) string {
	t.Helper()
	w, err := keyring.Wrap(wrapKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// instanceWithKey creates an instance row whose RPC key is key wrapped under wrapKey ("" for a legacy
// instance without one) and returns its id and encrypted_key.
func instanceWithKey(t *testing.T, d *catalog.DB, wrapKey, key string) (id, encryptedKey string) {
	t.Helper()
	in := catalog.Instance{Name: "db", TenantID: "tenant", FlavorID: "1", VolumeSize: 1}
	if key != "" {
		in.EncryptedKey = wrapped(t, wrapKey, key)
	}
	rows, err := d.CreateInstance(context.Background(), catalog.CreateInstanceParams{Instances: []catalog.Instance{in}})
	if err != nil {
		t.Fatal(err)
	}
	return rows[0].ID, in.EncryptedKey
}

// midRotation records a rotation in its overlap for a keyed instance: its key stays current, previousKey
// (wrapped under wrapKey) stays accepted until until (nil: no deadline recorded).
func midRotation(t *testing.T, d *catalog.DB, wrapKey, id, encryptedKey, previousKey string, until *time.Time) {
	t.Helper()
	if err := d.SetInstanceKey(context.Background(), catalog.KeyChange{InstanceID: id, EncryptedKey: encryptedKey, Envelope: catalog.EnvelopeAEAD,
		PreviousEncryptedKey: wrapped(t, wrapKey, previousKey), PreviousValidUntil: until}); err != nil {
		t.Fatal(err)
	}
}
