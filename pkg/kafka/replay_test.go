package kafka_test

import (
	"testing"

	"github.com/terning-farewell/farewell/pkg/kafka"
)

func TestReplaySelectionPicksEachOriginalOnce(t *testing.T) {
	t.Parallel()
	rec := func(offset int64, key string, srcOffset int64, replayedFrom string) kafka.DeadLetterRecord {
		d := kafka.DeadLetterRecord{Topic: "apps.dlq", Offset: offset, Key: []byte(key), Headers: map[string]string{},
			SourceTopic: "apps", SourceOffset: srcOffset}
		if replayedFrom != "" {
			d.Headers[kafka.HeaderReplayedFrom] = replayedFrom
		}
		return d
	}
	recs := []kafka.DeadLetterRecord{
		rec(0, "a", 10, ""),
		rec(1, "a", 10, ""),             // the same message dead-lettered twice
		rec(2, "b", 11, ""),             // another message
		rec(3, "a", 40, "apps.dlq/0/0"), // a replay of offset 0, dead-lettered again
		rec(4, "c", 12, ""),
	}
	tests := []struct {
		name string
		sel  kafka.ReplaySelection
		want []int64
	}{
		{"all", kafka.ReplaySelection{All: true}, []int64{0, 2, 4}},
		{"by key", kafka.ReplaySelection{Keys: map[string]bool{"a": true}}, []int64{0}},
		{"by offset of a later copy", kafka.ReplaySelection{Offsets: map[int64]bool{3: true, 4: true}}, []int64{3, 4}},
		{"nothing", kafka.ReplaySelection{Keys: map[string]bool{"zz": true}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []int64
			for _, d := range tc.sel.Select(recs) {
				got = append(got, d.Offset)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("selected offsets %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("selected offsets %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestReplayMessageIsTheOriginal(t *testing.T) {
	t.Parallel()
	d := kafka.DeadLetterRecord{Topic: "apps.dlq", Partition: 0, Offset: 7, Key: []byte("k"), Value: []byte{1, 2},
		SourceTopic: "apps", Headers: map[string]string{kafka.HeaderDLQReason: "r", kafka.HeaderDLQOffset: "3", "trace": "t"}}
	m := d.ReplayMessage()
	if m.Topic != "apps" || m.Key != "k" || string(m.Value) != "\x01\x02" || m.Headers["trace"] != "t" ||
		m.Headers[kafka.HeaderDLQReason] != "" || m.Headers[kafka.HeaderDLQOffset] != "" || m.Headers[kafka.HeaderReplayedFrom] != "apps.dlq/0/7" {
		t.Fatalf("replay message = %+v", m)
	}
}
