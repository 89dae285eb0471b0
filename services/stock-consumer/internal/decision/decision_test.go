package decision

import (
	"testing"
)

func TestParseStored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		status  Status
		rank    int64
		wantErr bool
	}{
		{name: "winner", in: "SUCCESS:12", status: Success, rank: 12},
		{name: "loser", in: "FAILURE:0", status: Failure},
		{name: "winner without rank", in: "SUCCESS:0", wantErr: true},
		{name: "missing colon", in: "SUCCESS", wantErr: true},
		{name: "unknown status", in: "MAYBE:1", wantErr: true},
		{name: "bad rank", in: "SUCCESS:x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, rank, err := ParseStored(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if st != tt.status || rank != tt.rank {
				t.Fatalf("got %s/%d, want %s/%d", st, rank, tt.status, tt.rank)
			}
		})
	}
}

func TestSplitByEventKeepsLogOrder(t *testing.T) {
	t.Parallel()
	apps := []Application{
		{EventID: "b", Email: "1"}, {EventID: "a", Email: "2"}, {EventID: "b", Email: "3"},
		{EventID: "a", Email: "4"}, {EventID: "b", Email: "5"},
	}
	got := SplitByEvent(apps)
	if len(got) != 2 || got[0].EventID != "b" || got[1].EventID != "a" {
		t.Fatalf("events = %+v", got)
	}
	var order []string
	for _, a := range got[0].Apps {
		order = append(order, a.Email)
	}
	if want := "135"; joined(order) != want {
		t.Fatalf("event b order = %s, want %s", joined(order), want)
	}
	if joined([]string{got[1].Apps[0].Email, got[1].Apps[1].Email}) != "24" {
		t.Fatalf("event a order wrong: %+v", got[1].Apps)
	}
}

func joined(s []string) string {
	out := ""
	for _, x := range s {
		out += x
	}
	return out
}

func TestWinnersCountsOnlyNewDecisions(t *testing.T) {
	t.Parallel()
	ds := []Decision{
		{Status: Success, New: true}, {Status: Success, New: false},
		{Status: Failure, New: true}, {Status: Failure, New: true},
	}
	w, l := Winners(ds)
	if w != 1 || l != 2 {
		t.Fatalf("winners/losers = %d/%d, want 1/2", w, l)
	}
}
