package chaos

import (
	"fmt"
	"strings"
	"testing"
)

// fakeRun is a run of n participants with stock S and no stack behind it.
func fakeRun(n int, stock int64) *Run {
	r := &Run{S: &Stack{Env: map[string]string{}}, Name: "fake", Prefix: "cxtest", Stock: stock, WinnersBefore: 10, index: map[string]int{}}
	for i := 0; i < n; i++ {
		e := fmt.Sprintf("cxtest-%05d@chaos.farewell.local", i)
		r.Participants = append(r.Participants, e)
		r.index[e] = i
	}
	return r
}

// settled builds a consistent snapshot: participants [0, decided) applied
// with a 202 and were decided in order; the first stock of them won and got
// one email each.
func settled(r *Run, decided int) (snapshot, answers) {
	sn := snapshot{rows: map[string][]row{}, decisions: map[string]string{}, applied: map[string]string{}, mails: map[string][]Mail{}}
	acc := answers{accepted: map[int]int{}, conflicts: map[int]bool{}, last: map[int]Attempt{}}
	for i := 0; i < decided; i++ {
		e := r.Participants[i]
		st, rank := "FAILURE", int64(0)
		if int64(i) < r.Stock {
			st, rank = "SUCCESS", r.WinnersBefore+int64(i)+1
			sn.mails[e] = []Mail{{ID: e, MessageID: "m-" + e, To: []string{e}}}
		}
		sn.rows[e] = []row{{Email: e, Status: st, Rank: rank}}
		sn.decisions[e] = fmt.Sprintf("%s:%d", st, rank)
		sn.applied[e] = "P:1"
		acc.accepted[i] = 1
	}
	return sn, acc
}

func TestCheckSnapshot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		mess  func(r *Run, sn *snapshot, acc *answers)
		wants []string // substrings of the expected violations; none: must pass
	}{
		{"consistent", func(*Run, *snapshot, *answers) {}, nil},
		{"oversold", func(r *Run, sn *snapshot, _ *answers) {
			e := r.Participants[7]
			sn.rows[e] = []row{{Email: e, Status: "SUCCESS", Rank: 16}}
			sn.decisions[e] = "SUCCESS:16"
			sn.mails[e] = []Mail{{MessageID: "x", To: []string{e}}}
		}, []string{"winners = 6, want", "rank 16 outside"}},
		{"accepted but lost", func(r *Run, sn *snapshot, _ *answers) {
			e := r.Participants[8]
			delete(sn.rows, e)
			delete(sn.decisions, e)
		}, []string{"202 is not durable"}},
		{"redis and mysql disagree", func(r *Run, sn *snapshot, _ *answers) {
			sn.decisions[r.Participants[1]] = "FAILURE:0"
		}, []string{"MySQL and Redis disagree"}},
		{"two rows", func(r *Run, sn *snapshot, _ *answers) {
			e := r.Participants[2]
			sn.rows[e] = append(sn.rows[e], sn.rows[e][0])
		}, []string{"more than one row"}},
		{"accepted twice", func(_ *Run, _ *snapshot, acc *answers) { acc.accepted[3] = 2 }, []string{"accepted more than once"}},
		{"missing email", func(r *Run, sn *snapshot, _ *answers) { delete(sn.mails, r.Participants[0]) }, []string{"without a confirmation email"}},
		{"duplicate email", func(r *Run, sn *snapshot, _ *answers) {
			e := r.Participants[0]
			sn.mails[e] = append(sn.mails[e], sn.mails[e][0])
		}, []string{"duplicate emails"}},
		{"loser mailed", func(r *Run, sn *snapshot, _ *answers) {
			e := r.Participants[9]
			sn.mails[e] = []Mail{{MessageID: "y", To: []string{e}}}
		}, []string{"should get none"}},
		{"stranded marker", func(r *Run, sn *snapshot, _ *answers) { sn.applied[r.Participants[15]] = "A:1" }, []string{"stranded admissions"}},
		{"lag", func(_ *Run, sn *snapshot, _ *answers) {
			sn.lags = []Lag{{Group: "g", Topic: "t", Committed: 3, HighWater: 5, Behind: 2}}
		}, []string{"lag did not return to 0"}},
		{"own application dead-lettered", func(r *Run, sn *snapshot, _ *answers) {
			sn.dlq = []DeadLetter{{Topic: "farewell.event.applications.dlq", Key: r.Participants[4], Reason: "bad"}}
		}, []string{"dead-lettered on farewell.event.applications.dlq"}},
		{"unhealthy", func(_ *Run, sn *snapshot, _ *answers) { sn.unready = []string{"kafka (down)"} }, []string{"not healthy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := fakeRun(20, 5)
			sn, acc := settled(r, 12)
			tc.mess(r, &sn, &acc)
			var res Result
			r.checkSnapshot(sn, acc, &res)
			got := strings.Join(r.violations, "\n")
			if len(tc.wants) == 0 && got != "" {
				t.Fatalf("violations on a consistent run:\n%s", got)
			}
			for _, w := range tc.wants {
				if !strings.Contains(got, w) {
					t.Errorf("want a violation containing %q, got:\n%s", w, got)
				}
			}
		})
	}
}

func TestGenericReason(t *testing.T) {
	t.Parallel()
	got := genericReason(`550 mailbox unavailable, affected recipient(s): <cx-1=refused@chaos.farewell.local>, affected message ID: <result.82731394c71938bb72c32404f1bf59c0@farewell>`)
	if strings.Contains(got, "cx-1") || strings.Contains(got, "82731394") {
		t.Fatalf("genericReason kept an address or id: %s", got)
	}
}
