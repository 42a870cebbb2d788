package keyring

import "testing"

func FuzzTroveDecrypt(f *testing.F) {
	f.Add("AAECAwQFBgcICQoLDA0ODwaACrPU5c9TLIeAa+Nk2Crrgk2xsFe5ptSRc9HsoxLLGkkxwf6IzNJjPl95DsbozA==")
	f.Add("AAECAwQFBgcICQoLDA0OD4m3jdo9L7t8AA5LaDZFf7MeId4UWGAZkPz6+D2+vkjG")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		pt, err := TroveDecrypt(DefaultTaskmanagerKey, s)
		if err == nil && len(pt) > len(s) {
			t.Fatalf("plaintext longer than its ciphertext")
		}
	})
}

func FuzzAEADOpen(f *testing.F) {
	sealed, _ := Seal("k", []byte("hello"), []byte("aad"), nil)
	f.Add(sealed, []byte("aad"))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, b, aad []byte) {
		if pt, err := Open([]string{"k"}, b, aad); err == nil && len(pt) != len(b)-NonceSize-16 {
			t.Fatalf("bad plaintext length")
		}
	})
}
