package ledger

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/terning-farewell/farewell/pkg/fairlog"
)

type fakeLog struct {
	lines []string
	err   error
	// short drops the last line of every page.
	short bool
}

func (f *fakeLog) Tail(context.Context) (int64, string, error) {
	if len(f.lines) == 0 {
		return 0, "", f.err
	}
	return int64(len(f.lines)), f.lines[len(f.lines)-1], f.err
}

func (f *fakeLog) Lines(_ context.Context, from, to int64) ([]string, error) {
	out := f.lines[from : to+1]
	if f.short {
		out = out[:len(out)-1]
	}
	return out, f.err
}

func newTestService(t *testing.T, l Log) (*Service, fairlog.KeySet) {
	t.Helper()
	s, err := fairlog.NewSigner(fairlog.KeyConfig{ID: "r1", Seed: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService("e", l, s)
	if err != nil {
		t.Fatal(err)
	}
	return svc, fairlog.KeySet{"r1": s.Keys()[0].Key}
}

func sealed(n int, lastKind fairlog.Kind) []string {
	prev := fairlog.GenesisHash
	var out []string
	for i := 1; i <= n; i++ {
		kind := fairlog.KindDecision
		if i == n {
			kind = lastKind
		}
		e, line := fairlog.Seal(prev, fairlog.Entry{Seq: int64(i), Event: "e", Kind: kind, Participant: fmt.Sprint(i)})
		prev = e.Hash
		out = append(out, string(line))
	}
	return out
}

func TestHeadIsTheLastEntrySigned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		lines      []string
		wantFrozen bool
	}{
		{name: "empty log", lines: nil},
		{name: "open log", lines: sealed(3, fairlog.KindDecision)},
		{name: "frozen log", lines: sealed(3, fairlog.KindFreeze), wantFrozen: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc, keys := newTestService(t, &fakeLog{lines: tt.lines})
			h, err := svc.Head(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := fairlog.GenesisHash
			if len(tt.lines) > 0 {
				last, _ := fairlog.ParseEntry([]byte(tt.lines[len(tt.lines)-1]))
				want = last.Hash
			}
			if h.Entries != int64(len(tt.lines)) || h.Hash != want || h.Frozen != tt.wantFrozen || keys.VerifyHead(h) != nil {
				t.Fatalf("head = %+v; want %d entries ending %s, frozen %v, signed", h, len(tt.lines), want, tt.wantFrozen)
			}
		})
	}
}

func TestStreamPagesUpToTheHeadAndRefusesAShortPage(t *testing.T) {
	t.Parallel()
	lines := sealed(2*Page+5, fairlog.KindDecision)
	svc, _ := newTestService(t, &fakeLog{lines: lines})
	var got []string
	if err := svc.Stream(context.Background(), int64(len(lines)-1), func(ls []string) error { got = append(got, ls...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(lines)-1 || got[len(got)-1] != lines[len(lines)-2] {
		t.Fatalf("streamed %d lines, want the %d up to the head", len(got), len(lines)-1)
	}
	short, _ := newTestService(t, &fakeLog{lines: lines, short: true})
	if err := short.Stream(context.Background(), int64(len(lines)), func([]string) error { return nil }); err == nil {
		t.Fatal("a short page was streamed as if whole")
	}
	down, _ := newTestService(t, &fakeLog{lines: lines, err: errors.New("connection refused")})
	if _, err := down.Head(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Head with Redis down = %v, want ErrUnavailable", err)
	}
}
