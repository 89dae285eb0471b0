package admission

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeStore is an in-memory Store for the service's own rules; the Redis
// scripts themselves are tested against real Redis in the http package.
type fakeStore struct {
	mu       sync.Mutex
	outcome  Outcome
	admits   int
	settled  map[string]bool
	soldOut  bool
	admitErr error
	// marker overrides the admission marker Admit returns ("A:1").
	marker string
	// receipt is the receipt kept by the last Settle.
	receipt string
}

func (f *fakeStore) Admit(context.Context, string, time.Duration) (Outcome, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.admits++
	if f.marker != "" {
		return f.outcome, f.marker, f.admitErr
	}
	return f.outcome, "A:1", f.admitErr
}

func (f *fakeStore) Settle(_ context.Context, email, _ string, published bool, receipt string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.settled == nil {
		f.settled = map[string]bool{}
	}
	f.settled[email] = published
	f.receipt = receipt
	return nil
}

func (f *fakeStore) Status(context.Context, string) (View, bool, error) {
	return View{Status: Pending}, true, nil
}
func (f *fakeStore) SoldOut(context.Context) (bool, error) { return f.soldOut, nil }

type fakeAnnouncer struct {
	err   error
	block chan struct{}
	calls int
}

func (f *fakeAnnouncer) Announce(ctx context.Context, _ Application) (Place, error) {
	f.calls++
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return Place{}, ctx.Err()
		}
	}
	return Place{Partition: 0, Offset: 41 + int64(f.calls)}, f.err
}

func newTestService(t *testing.T, st Store, an Announcer, maxInFlight int) *Service {
	t.Helper()
	s, err := NewService(Config{EventID: "e", Grace: 2 * time.Second, PublishTimeout: time.Second, MaxInFlight: maxInFlight}, st, an, func() string { return "id" })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestApplyOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		outcome     Outcome
		publishErr  error
		marker      string
		wantErr     error
		wantSettled *bool
	}{
		{name: "admitted and published", outcome: Admitted, wantSettled: ptr(true)},
		{name: "taken over after grace", outcome: Readmitted, wantSettled: ptr(true)},
		{name: "already applied", outcome: AlreadyApplied, wantErr: ErrAlreadyApplied},
		{name: "sold out", outcome: SoldOut, wantErr: ErrSoldOut},
		{name: "before the window", outcome: NotOpen, marker: "4102444800000", wantErr: ErrNotOpen},
		{name: "after the window", outcome: Closed, wantErr: ErrNotOpen},
		{name: "state being rebuilt", outcome: NotReady, wantErr: ErrUnavailable},
		{name: "broker down undoes the marker", outcome: Admitted, publishErr: errors.New("no broker"), wantErr: ErrUnavailable, wantSettled: ptr(false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := &fakeStore{outcome: tt.outcome, marker: tt.marker}
			s := newTestService(t, st, &fakeAnnouncer{err: tt.publishErr}, 10)
			_, err := s.Apply(context.Background(), "a@b.co")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var notYet *NotOpenError
			if tt.marker != "" && (!errors.As(err, &notYet) || notYet.OpensAt.UnixMilli() != 4102444800000) {
				t.Fatalf("err = %#v, want a NotOpenError with the opening time", err)
			}
			got, settled := st.settled["a@b.co"]
			if tt.wantSettled == nil && settled {
				t.Fatalf("settled unexpectedly: %v", got)
			}
			if tt.wantSettled != nil && (!settled || got != *tt.wantSettled) {
				t.Fatalf("settled = %v (%v), want %v", got, settled, *tt.wantSettled)
			}
		})
	}
}

func TestSoldOutIsAnsweredFromMemory(t *testing.T) {
	t.Parallel()
	st := &fakeStore{outcome: SoldOut}
	s := newTestService(t, st, &fakeAnnouncer{}, 10)
	for i := 0; i < 5; i++ {
		if _, err := s.Apply(context.Background(), "a@b.co"); !errors.Is(err, ErrSoldOut) {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
	if st.admits != 1 {
		t.Fatalf("store touched %d times after sell-out, want 1", st.admits)
	}
	s.SetSoldOut(false)
	_, _ = s.Apply(context.Background(), "a@b.co")
	if st.admits != 2 {
		t.Fatalf("store not consulted after stock was added back")
	}
}

func TestBoundedInFlight(t *testing.T) {
	t.Parallel()
	an := &fakeAnnouncer{block: make(chan struct{})}
	s := newTestService(t, &fakeStore{outcome: Admitted}, an, 1)
	done := make(chan error, 1)
	go func() { _, err := s.Apply(context.Background(), "first@b.co"); done <- err }()
	deadline := time.Now().Add(2 * time.Second)
	for len(s.inFlight) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Apply(context.Background(), "second@b.co"); !errors.Is(err, ErrBusy) {
		t.Fatalf("second apply = %v, want ErrBusy", err)
	}
	close(an.block)
	if err := <-done; err != nil {
		t.Fatalf("first apply = %v", err)
	}
}

func TestNewServiceRefusesGraceShorterThanPublishTimeout(t *testing.T) {
	t.Parallel()
	_, err := NewService(Config{EventID: "e", Grace: time.Second, PublishTimeout: 2 * time.Second, MaxInFlight: 1}, &fakeStore{}, &fakeAnnouncer{}, nil)
	if err == nil {
		t.Fatal("want an error")
	}
}

func ptr[T any](v T) *T { return &v }
