package mysqlstore

import (
	"testing"

	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
)

// A dead-lettered application decided again is logged at its place when
// Redis had decided it there, and as a decision made now, without a place,
// when Redis decided it only now.
func TestDecisionEntriesOfDeadLetteredApplications(t *testing.T) {
	t.Parallel()
	at := func(offset int64, late, fresh bool) decision.Decision {
		return decision.Decision{Application: decision.Application{Offset: offset, Late: late}, New: fresh, Status: decision.Success, Rank: 1}
	}
	got := decisionEntries([]decision.Decision{at(7, false, true), at(8, true, false), at(9, true, true)})
	want := []struct {
		kind   fairlog.Kind
		offset int64
	}{{fairlog.KindDecision, 7}, {fairlog.KindLateDecision, 8}, {fairlog.KindDecision, -1}}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].Offset != w.offset {
			t.Fatalf("entry %d = %s at offset %d, want %s at offset %d", i, got[i].Kind, got[i].Offset, w.kind, w.offset)
		}
	}
}
