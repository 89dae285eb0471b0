package farewellv1_test

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
)

// TestWireFormatIsStable pins field numbers: a consumer built from an older
// schema must keep reading what a newer producer writes.
func TestWireFormatIsStable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		msg   proto.Message
		field protowire.Number
		want  string
	}{
		{"application email is field 3", &farewellv1.ApplicationSubmitted{Email: "a@b.co"}, 3, "a@b.co"},
		{"decision email is field 3", &farewellv1.ApplicationDecided{Email: "a@b.co"}, 3, "a@b.co"},
		{"code is field 3", &farewellv1.VerificationCodeRequested{Code: "123456"}, 3, "123456"},
		{"admin event id is field 2", &farewellv1.EventAdminChanged{EventId: "ev"}, 2, "ev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := proto.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 || num != tt.field || typ != protowire.BytesType {
				t.Fatalf("tag = %d/%d", num, typ)
			}
			v, m := protowire.ConsumeBytes(b[n:])
			if m < 0 || string(v) != tt.want {
				t.Fatalf("value = %q", v)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	in := &farewellv1.EventAdminChanged{SchemaVersion: 1, EventId: "ev", ChangedAtUnixMs: 42,
		Change: &farewellv1.EventAdminChanged_WindowSet{WindowSet: &farewellv1.WindowSet{OpensAtUnixMs: 1, ClosesAtUnixMs: 2}}}
	b, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out farewellv1.EventAdminChanged
	if err := proto.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, &out) || out.GetWindowSet().GetClosesAtUnixMs() != 2 {
		t.Fatalf("round trip changed the message: %v", &out)
	}
}
