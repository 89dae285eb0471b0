package fairlog

import (
	"bytes"
	"errors"
	"testing"
)

func signer(t testing.TB, id string, seed byte, previous ...PublicKey) *Signer {
	t.Helper()
	s, err := NewSigner(KeyConfig{ID: id, Seed: bytes.Repeat([]byte{seed}, 32), Previous: previous})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReceiptsSignedBeforeARotationStillVerify(t *testing.T) {
	t.Parallel()
	old := signer(t, "r1", 1)
	r := old.SignReceipt(Receipt{Event: "e", Participant: "p", Offset: 7, AcceptedAt: 1})
	rotated := signer(t, "r2", 2, old.Keys()[0])
	keys, err := NewJWKS(rotated.Keys()).KeySet()
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.VerifyReceipt(r); err != nil {
		t.Fatalf("receipt of the previous key: %v", err)
	}
	if got := rotated.SignReceipt(Receipt{Event: "e"}); got.KeyID != "r2" || keys.VerifyReceipt(got) != nil {
		t.Fatalf("new receipts are signed with %q and verify: %v", got.KeyID, keys.VerifyReceipt(got))
	}
	tests := []struct {
		name   string
		change func(*Receipt)
		want   error
	}{
		{"offset", func(r *Receipt) { r.Offset++ }, ErrBadSignature},
		{"participant", func(r *Receipt) { r.Participant = "q" }, ErrBadSignature},
		{"accept time", func(r *Receipt) { r.AcceptedAt++ }, ErrBadSignature},
		{"key id", func(r *Receipt) { r.KeyID = "r9" }, ErrUnknownKey},
		{"signature", func(r *Receipt) { r.Signature = "AAAA" }, ErrBadSignature},
	}
	for _, tt := range tests {
		forged := r
		tt.change(&forged)
		if err := keys.VerifyReceipt(forged); !errors.Is(err, tt.want) {
			t.Errorf("%s changed: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestSignerRefusesBadKeys(t *testing.T) {
	t.Parallel()
	if _, err := NewSigner(KeyConfig{ID: "r1", Seed: []byte("short")}); err == nil {
		t.Fatal("a short seed was accepted")
	}
	prev := signer(t, "r1", 1).Keys()[0]
	if _, err := NewSigner(KeyConfig{ID: "r1", Seed: bytes.Repeat([]byte{2}, 32), Previous: []PublicKey{prev}}); err == nil {
		t.Fatal("a previous key with the current id was accepted")
	}
}

func TestParticipantHashDependsOnSaltEventAndEmail(t *testing.T) {
	t.Parallel()
	a := Participant([]byte("salt"), "e", "a@b.co")
	for _, other := range []string{Participant([]byte("salt2"), "e", "a@b.co"), Participant([]byte("salt"), "e2", "a@b.co"),
		Participant([]byte("salt"), "e", "b@b.co"), Participant([]byte("salt"), "ea", "@b.co")} {
		if other == a {
			t.Fatalf("two different inputs hash to %s", a)
		}
	}
	if len(a) != 64 || a != Participant([]byte("salt"), "e", "a@b.co") {
		t.Fatalf("hash %q: want 64 hex digits, stable", a)
	}
}

func TestSealedEntriesChainAndParseStrictly(t *testing.T) {
	t.Parallel()
	first, line := Seal(GenesisHash, Entry{Seq: 1, Event: "e", Kind: KindStock, Stock: 3})
	back, err := ParseEntry(line)
	if err != nil || back != first || back.ComputeHash() != first.Hash {
		t.Fatalf("ParseEntry(%s) = %+v, %v", line, back, err)
	}
	second, _ := Seal(first.Hash, Entry{Seq: 2, Event: "e", Kind: KindDecision, Participant: "p", Status: "SUCCESS", Rank: 1, Stock: 3})
	if second.Prev != first.Hash || second.Hash == first.Hash {
		t.Fatalf("second entry %+v does not chain to %s", second, first.Hash)
	}
	if _, err := ParseEntry(append(bytes.TrimSuffix(line, []byte("}")), []byte(`,"x":1}`)...)); err == nil {
		t.Fatal("an unknown field was accepted")
	}
}

// BenchmarkSignReceipt is the cost the apply path pays per 202.
func BenchmarkSignReceipt(b *testing.B) {
	s := signer(b, "r1", 1)
	r := Receipt{Event: "final-gift", Participant: Participant([]byte("a salt of 32 bytes or more, yes!"), "final-gift", "a@b.co"), Offset: 123456, AcceptedAt: 1796178182205}
	b.ReportAllocs()
	for b.Loop() {
		s.SignReceipt(r)
	}
}

// BenchmarkParticipant is the salted hash, also per 202.
func BenchmarkParticipant(b *testing.B) {
	salt := []byte("a salt of 32 bytes or more, yes!")
	b.ReportAllocs()
	for b.Loop() {
		Participant(salt, "final-gift", "someone@example.com")
	}
}
