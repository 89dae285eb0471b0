package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admission"
)

// TestAdmissionUsesRedisClock: a gateway replica whose clock runs ahead
// neither opens the window early nor takes over another replica's admission
// before the grace ran out (which would give one person two 202s). The
// window, the grace and the admission times are Redis's clock: Admit takes
// no time from its caller any more (it once did, and a replica two hours
// ahead was admitted an hour before the window opened). Chaos
// "gateway-clock-skew" runs a whole gateway under faketime.
func TestAdmissionUsesRedisClock(t *testing.T) {
	ctx := context.Background()
	rdb := testinfra.Redis(t)
	eventID := testinfra.UniqueName("ev-")
	k := redisx.KeysFor(eventID)
	t.Cleanup(func() {
		rdb.Del(context.Background(), k.Window, k.Decisions, k.Applied, k.SoldOut, k.State, k.Unsettled)
	})
	store, err := redisstore.NewRedis(ctx, rdb, eventID)
	if err != nil {
		t.Fatal(err)
	}
	redisNow, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	opens := redisNow.Add(time.Hour)
	rdb.Set(ctx, k.State, "ready", 0)
	rdb.HSet(ctx, k.Window, "opens_at", opens.UnixMilli(), "closes_at", 0)

	ahead := admit(ctx, t, store, "early@example.com")
	if ahead != admission.NotOpen {
		t.Fatalf("window opening in an hour: %s, want %s (the window opens in an hour by Redis's clock)", ahead, admission.NotOpen)
	}

	rdb.HSet(ctx, k.Window, "opens_at", 0)
	if got := admit(ctx, t, store, "once@example.com"); got != admission.Admitted {
		t.Fatalf("first apply: %s, want %s", got, admission.Admitted)
	}
	// Its publish is still in flight when another replica sees a retry: it
	// must not think the grace (15 s) ran out (a takeover, READMITTED),
	// whatever its own clock says: the first is still in flight.
	if got := admit(ctx, t, store, "once@example.com"); got != admission.InFlight {
		t.Fatalf("retry within the grace: %s, want %s", got, admission.InFlight)
	}
}

func admit(ctx context.Context, t *testing.T, s *redisstore.Redis, email string) admission.Outcome {
	t.Helper()
	out, marker, err := s.Admit(ctx, email, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if out == admission.Admitted {
		// The marker carries the admission time, by Redis's clock.
		at, err := admission.MarkerTime(marker)
		if err != nil || time.Since(at).Abs() > time.Minute {
			t.Fatalf("marker %q: time %v, err %v", marker, at, err)
		}
	}
	return out
}
