package admission

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/fairlog"
)

func TestAcceptedApplicationGetsASignedReceiptWithItsPlace(t *testing.T) {
	t.Parallel()
	signer, err := fairlog.NewSigner(fairlog.KeyConfig{ID: "r1", Seed: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("a salt of thirty-two bytes, at least")
	st := &fakeStore{outcome: Admitted}
	s, err := NewService(Config{EventID: "e", Grace: 2 * time.Second, PublishTimeout: time.Second, MaxInFlight: 1,
		Notary: signer, Participant: func(email string) string { return fairlog.Participant(salt, "e", email) }},
		st, &fakeAnnouncer{}, func() string { return "id" })
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Apply(context.Background(), "a@b.co")
	if err != nil || r == nil {
		t.Fatalf("Apply = %v, %v; want a receipt", r, err)
	}
	if r.Event != "e" || r.Offset != 42 || r.Partition != 0 || r.Participant != fairlog.Participant(salt, "e", "a@b.co") || r.KeyID != "r1" {
		t.Fatalf("receipt = %+v; want event e, partition 0, offset 42, the participant's hash, key r1", r)
	}
	keys := fairlog.KeySet{"r1": signer.Keys()[0].Key}
	if err := keys.VerifyReceipt(*r); err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
	var kept fairlog.Receipt
	if err := json.Unmarshal([]byte(st.receipt), &kept); err != nil || kept != *r {
		t.Fatalf("kept receipt %q (%v); want the one answered", st.receipt, err)
	}
	forged := *r
	forged.Offset = 1
	if err := keys.VerifyReceipt(forged); err == nil {
		t.Fatal("a receipt with a changed offset verified")
	}
}
