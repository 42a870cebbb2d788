package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/backupcrypt"
	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

const (
	kekOld = "old-kek-0123456789abcdef0123456789abcdef"
	kekNew = "new-kek-fedcba9876543210fedcba9876543210"
)

// Encrypted backups on a real MariaDB: the object holds no plaintext row (while its decrypted stream does),
// restores with the key, survives a KEK rotation (the old key as a previous key), names the missing key
// without it; one flipped byte or a truncated object fails the restore as an integrity fault with no server
// started, even without the catalog's checksum; a backup made before encryption still restores.
func TestEncryptedBackup(t *testing.T) {
	store := t.TempDir()
	oldKeys := backupcrypt.Keys{Current: kekOld}
	src, err := mariadbAgentKeys(t, loopback(51), store, nil, oldKeys)
	if err != nil {
		t.Fatal(err)
	}
	const marker = "MARKER-ROW-c0ffee-plaintext-must-not-be-stored"
	rootSQL(t, loopback(51), "CREATE DATABASE app; CREATE TABLE app.t (n INT, s VARCHAR(100)); INSERT INTO app.t VALUES (1, '"+marker+"'), (2, 'b')")
	want := rootSQL(t, loopback(51), "SELECT COUNT(*), SUM(n), MAX(s) FROM app.t")
	backup := func(a *Agent, id string) (backupstore.Object, string) {
		t.Helper()
		obj, err := a.CreateBackup(context.Background(), guestapi.BackupInfo{ID: id, BackupType: guestapi.BackupFull,
			StorageDriver: backupstore.DriverDirectory}, backupstore.Credentials{})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(obj.Location)
		return obj, u.Path
	}
	id := "5f1f1d0e-0000-4000-8000-0000000000e1"
	obj, path := backup(src, id)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !backupcrypt.Encrypted(data) || bytes.Contains(data, []byte(marker)) {
		t.Fatalf("object not encrypted (magic %t) or holds the marker row", backupcrypt.Encrypted(data))
	}
	// the marker is in the backup: decrypted and gunzipped, the stream holds it
	r, err := backupcrypt.NewReader(bytes.NewReader(data), oldKeys)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(gz)
	if err != nil || !bytes.Contains(plain, []byte(marker)) {
		t.Fatalf("decrypted backup: %v, marker found %t", err, bytes.Contains(plain, []byte(marker)))
	}

	// KEK rotation: new key current, old key previous — the old backup restores
	rotated := backupcrypt.Keys{Current: kekNew, Previous: []string{kekOld}}
	if _, err := mariadbAgentKeys(t, loopback(52), store, restoreInfo(id, obj), rotated); err != nil {
		t.Fatalf("restore after rotation: %v", err)
	}
	if got := rootSQL(t, loopback(52), "SELECT COUNT(*), SUM(n), MAX(s) FROM app.t"); got != want {
		t.Fatalf("restored %q, backed up %q", got, want)
	}

	refused := func(addr string, info map[string]any, keys backupcrypt.Keys, words ...string) {
		t.Helper()
		_, err := mariadbAgentKeys(t, addr, store, info, keys)
		if err == nil || datastore.KindOf(err) != datastore.KindBackupIntegrity {
			t.Fatalf("restore: %v, want an integrity fault", err)
		}
		for _, w := range words {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("restore fault %q does not say %q", err, w)
			}
		}
		for _, k := range []string{kekOld, kekNew} {
			if strings.Contains(err.Error(), k) {
				t.Fatal("the fault shows a key")
			}
		}
		if out, err := exec.Command("mariadb", "-h", addr, "-u", "root", "-p"+rootPassword, "-e", "SELECT 1").CombinedOutput(); err == nil {
			t.Fatalf("a server answers after a refused restore: %s", out)
		}
	}
	// the old key dropped altogether: the fault names the key id the backup needs
	refused(loopback(53), restoreInfo(id, obj), backupcrypt.Keys{Current: kekNew}, id, backupcrypt.KeyID(kekOld))

	// one flipped byte in the middle, no catalog checksum to fall back on: the chunk does not authenticate
	noSum := func(o backupstore.Object) map[string]any { o.MD5 = ""; return restoreInfo(id, o) }
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 0x01
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	refused(loopback(54), noSum(obj), rotated, id, "authenticate")
	// cut after three quarters: truncated
	if err := os.WriteFile(path, data[:len(data)*3/4], 0o600); err != nil {
		t.Fatal(err)
	}
	refused(loopback(55), noSum(obj), rotated, id)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	// a backup made before encryption was turned on restores on a guest with keys
	plainSrc, err := mariadbAgent(t, loopback(56), store, restoreInfo(id, obj))
	if err == nil {
		t.Fatal("a guest without keys restored an encrypted backup")
	}
	_ = plainSrc
	legacy := "5f1f1d0e-0000-4000-8000-0000000000e2"
	src.d.BackupKeys = backupcrypt.Keys{}
	lobj, lpath := backup(src, legacy)
	if ldata, _ := os.ReadFile(lpath); backupcrypt.Encrypted(ldata) {
		t.Fatal("a backup without a key is encrypted")
	}
	if _, err := mariadbAgentKeys(t, loopback(57), store, restoreInfo(legacy, lobj), rotated); err != nil {
		t.Fatalf("restore of a backup made before encryption: %v", err)
	}
	if got := rootSQL(t, loopback(57), "SELECT COUNT(*), SUM(n), MAX(s) FROM app.t"); got != want {
		t.Fatalf("restored %q, backed up %q", got, want)
	}
}
