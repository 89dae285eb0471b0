package fairlog

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// checkSealMatchesJSON: Seal's line is json.Marshal of the sealed entry,
// and its hash is ComputeHash's (SHA-256 over encoding/json's bytes).
func checkSealMatchesJSON(t *testing.T, prev string, e Entry) {
	t.Helper()
	sealed, line := Seal(prev, e)
	want, err := json.Marshal(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(line, want) {
		t.Fatalf("Seal wrote\n%s\nencoding/json writes\n%s", line, want)
	}
	if got := sealed.ComputeHash(); got != sealed.Hash {
		t.Fatalf("Seal's hash %s, ComputeHash %s", sealed.Hash, got)
	}
}

func TestSealWritesWhatEncodingJSONWrites(t *testing.T) {
	t.Parallel()
	for _, e := range []Entry{
		{},
		{Seq: 1, Event: "final-gift", Kind: KindDecision, At: 1796178182346, Participant: "cbe5", Offset: 4182, Status: "SUCCESS", Rank: 12, Stock: 1000},
		{Seq: 2, Event: "e", Kind: KindLateDecision, Partition: 3, Offset: -1, Status: "FAILURE"},
		{Seq: math.MaxInt64, Event: "a<b>&c", Kind: KindWindow, At: math.MinInt64, Version: -7, OpensAt: 1, ClosesAt: -1},
		{Seq: 3, Event: "quote\" back\\slash \n tab\t", Kind: "ünïcödé", Participant: "\u2028\u2029", Status: "\x7f\x00"},
		{Seq: 4, Event: "bad utf-8 \xff\xfe", Kind: KindFreeze, Hash: "ignored: Seal sets it"},
	} {
		checkSealMatchesJSON(t, GenesisHash, e)
		checkSealMatchesJSON(t, "not a hash \"<&>\"", e)
	}
}

// FuzzSealMatchesEncodingJSON holds the hand-written encoder to
// encoding/json for any entry.
func FuzzSealMatchesEncodingJSON(f *testing.F) {
	f.Add(int64(1), "final-gift", "decision", int64(1796178182346), "cbe5", int32(0), int64(4182), "SUCCESS", int64(12), int64(1000), int64(0), int64(0), int64(0), GenesisHash)
	f.Add(int64(-1), "<&>", "\u2028", int64(-5), "", int32(-2), int64(-1), "", int64(0), int64(-3), int64(9), int64(1), int64(-1), "\xff\"\\")
	f.Fuzz(func(t *testing.T, seq int64, event, kind string, at int64, participant string, partition int32, offset int64,
		status string, rank, stock, version, opensAt, closesAt int64, prev string) {
		checkSealMatchesJSON(t, prev, Entry{Seq: seq, Event: event, Kind: Kind(kind), At: at, Participant: participant,
			Partition: partition, Offset: offset, Status: status, Rank: rank, Stock: stock, Version: version,
			OpensAt: opensAt, ClosesAt: closesAt})
	})
}

// BenchmarkSeal is the writer's cost per log entry (a batch of 5,000
// decisions seals 5,000).
func BenchmarkSeal(b *testing.B) {
	e := Entry{Seq: 123456, Event: "final-gift", Kind: KindDecision, At: 1796178182346,
		Participant: "cbe5b3a5cbe5b3a5cbe5b3a5cbe5b3a5cbe5b3a5cbe5b3a5cbe5b3a5cbe5b3a5", Offset: 4182, Status: "SUCCESS", Rank: 12, Stock: 1000}
	b.ReportAllocs()
	for b.Loop() {
		Seal(GenesisHash, e)
	}
}
