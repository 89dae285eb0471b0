package chaos

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/localstack"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

// logWriter sends the stack's progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestChaosReduced is the reduced chaos suite that runs inside `make test`:
// a duplicate storm, a kill -9 of stock-consumer, a kill -9 of one
// apply-gateway replica, concurrent admin changes at both gateways and a
// Redis frozen while the result emails go out, a few hundred participants
// each, with every invariant checked. It needs the running local stack (`make test` starts
// it) and takes the exclusive stack lock like `make chaos`.
func TestChaosReduced(t *testing.T) {
	testinfra.NeedsStack(t)
	s, err := OpenStack(logWriter{t})
	if err != nil {
		t.Fatalf("%v\nthe chaos test drives the running local stack: start it with `make run` (`make test` does)", err)
	}
	defer s.Close()

	lock, err := localstack.AcquireLock(context.Background(), s.Paths.Lock, 10*time.Minute, "chaos test", logWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Release() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	scs, err := Select("reduced")
	if err != nil {
		t.Fatal(err)
	}
	var results []Result
	for _, sc := range scs {
		ok := t.Run(sc.Name, func(t *testing.T) {
			res, err := RunScenario(ctx, s, sc, Size{Reduced: true}, 100*time.Second)
			results = append(results, res)
			if err != nil {
				t.Fatalf("stack not restored: %v", err)
			}
			if res.Err != nil {
				t.Errorf("scenario error: %v", res.Err)
			}
			for _, v := range res.Violations {
				t.Errorf("VIOLATION %s", v)
			}
			for _, n := range res.Notes {
				t.Logf("note: %s", n)
			}
		})
		if !ok && ctx.Err() != nil {
			break
		}
	}
	var table strings.Builder
	WriteTable(&table, results)
	t.Log("\n" + table.String())
}

func TestSelect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, list string
		want       []string
		wantErr    bool
	}{
		{"all", "", nil, false},
		{"one", "dup-storm", []string{"dup-storm"}, false},
		{"group and duplicate", "consumer-faults,consumer-fault-after-decide", []string{"consumer-fault-after-decide", "consumer-fault-after-persist", "consumer-fault-after-publish"}, false},
		{"unknown", "nope", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Select(tc.list)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Select(%q) error = %v, want error %v", tc.list, err, tc.wantErr)
			}
			if tc.want == nil {
				if !tc.wantErr && len(got) != len(Scenarios()) {
					t.Fatalf("Select(%q) = %d scenarios, want all %d", tc.list, len(got), len(Scenarios()))
				}
				return
			}
			var names []string
			for _, sc := range got {
				names = append(names, sc.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("Select(%q) = %v, want %v", tc.list, names, tc.want)
			}
		})
	}
}

func TestShortName(t *testing.T) {
	t.Parallel()
	if got := shortName("consumer-fault-after-decide"); got != "consfaulaftedeci" {
		t.Fatalf("shortName = %q", got)
	}
}
