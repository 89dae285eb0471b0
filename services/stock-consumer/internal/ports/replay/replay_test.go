package replay_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/ports/replay"
)

func TestParseArgs(t *testing.T) {
	t.Parallel()
	env := pkgconfig.FromMap(map[string]string{"FAREWELL_KAFKA_BROKERS": "k1:9092,k2:9092"})
	tests := []struct {
		name    string
		args    string
		wantErr string
		check   func(t *testing.T, o replay.Options)
	}{
		{name: "list every dead-letter topic", args: "", check: func(t *testing.T, o replay.Options) {
			if len(o.Topics) != 4 || o.Execute || !o.Selection.Empty() || strings.Join(o.Brokers, ",") != "k1:9092,k2:9092" {
				t.Fatalf("options %+v", o)
			}
		}},
		{name: "dry run by key", args: "-topic farewell.event.applications.dlq -key a@b.c,d@e.f", check: func(t *testing.T, o replay.Options) {
			if o.Execute || !o.Selection.Keys["a@b.c"] || !o.Selection.Keys["d@e.f"] || o.Topics[0] != "farewell.event.applications.dlq" {
				t.Fatalf("options %+v", o)
			}
		}},
		{name: "execute by offset", args: "-topic farewell.event.admin.dlq -offset 3,4 -execute -brokers x:1", check: func(t *testing.T, o replay.Options) {
			if !o.Execute || !o.Selection.Offsets[3] || !o.Selection.Offsets[4] || o.Brokers[0] != "x:1" {
				t.Fatalf("options %+v", o)
			}
		}},
		{name: "execute without a selection", args: "-topic farewell.event.admin.dlq -execute", wantErr: "needs a selection"},
		{name: "selection without a topic", args: "-all", wantErr: "needs -topic"},
		{name: "not a dead-letter topic", args: "-topic farewell.event.applications -all", wantErr: "not a dead-letter topic"},
		{name: "all and a key", args: "-topic a.dlq -all -key k", wantErr: "-all selects everything"},
		{name: "bad offset", args: "-topic a.dlq -offset x", wantErr: "not an offset"},
		{name: "unknown flag", args: "-force", wantErr: "not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := replay.ParseArgs(strings.Fields(tc.args), env, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, replay.ErrUsage) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a usage error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}
