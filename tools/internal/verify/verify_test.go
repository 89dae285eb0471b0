package verify

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/terning-farewell/farewell/pkg/fairlog"
)

// chain seals entries in order, as stock-consumer's writer does.
func chain(entries ...fairlog.Entry) []fairlog.Entry {
	prev := fairlog.GenesisHash
	out := make([]fairlog.Entry, len(entries))
	for i, e := range entries {
		e.Seq = int64(i + 1)
		e.Event = "ev"
		out[i], _ = fairlog.Seal(prev, e)
		prev = out[i].Hash
	}
	return out
}

func lines(es []fairlog.Entry) []byte {
	var b bytes.Buffer
	for _, e := range es {
		_, line := fairlog.Seal(e.Prev, e)
		if e.ComputeHash() != e.Hash {
			// A tampered entry keeps the hash it was given.
			line = mustLine(e)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func mustLine(e fairlog.Entry) []byte {
	return []byte(fmt.Sprintf(`{"seq":%d,"event":%q,"kind":%q,"at":%d,"participant":%q,"partition":%d,"offset":%d,"status":%q,"rank":%d,"stock":%d,"version":%d,"opensAt":%d,"closesAt":%d,"prev":%q,"hash":%q}`,
		e.Seq, e.Event, e.Kind, e.At, e.Participant, e.Partition, e.Offset, e.Status, e.Rank, e.Stock, e.Version, e.OpensAt, e.ClosesAt, e.Prev, e.Hash))
}

func stock(n int64) fairlog.Entry {
	return fairlog.Entry{Kind: fairlog.KindStock, Stock: n, Version: 1}
}

func seen(n int64) fairlog.Entry {
	return fairlog.Entry{Kind: fairlog.KindStockSeen, Stock: n}
}

func won(who string, offset, rank, under int64) fairlog.Entry {
	return fairlog.Entry{Kind: fairlog.KindDecision, Participant: who, Offset: offset, Status: "SUCCESS", Rank: rank, Stock: under}
}

func lost(who string, offset, under int64) fairlog.Entry {
	return fairlog.Entry{Kind: fairlog.KindDecision, Participant: who, Offset: offset, Status: "FAILURE", Stock: under}
}

// fairEvent is stock 2, three applicants in offset order: a and b win, c loses.
func fairEvent() []fairlog.Entry {
	return chain(stock(2), won("a", 10, 1, 2), won("b", 11, 2, 2), lost("c", 12, 2))
}

func testSigner(t *testing.T, seed byte) *fairlog.Signer {
	t.Helper()
	s, err := fairlog.NewSigner(fairlog.KeyConfig{ID: fmt.Sprintf("k%d", seed), Seed: bytes.Repeat([]byte{seed}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func keysOf(s *fairlog.Signer) fairlog.KeySet {
	ks := fairlog.KeySet{}
	for _, k := range s.Keys() {
		ks[k.ID] = k.Key
	}
	return ks
}

func check(t *testing.T, in Input) Report {
	t.Helper()
	rep, err := Check(in)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestAFairLogPasses(t *testing.T) {
	t.Parallel()
	s := testSigner(t, 1)
	es := fairEvent()
	head := s.SignHead(fairlog.Head{Event: "ev", Entries: int64(len(es)), Hash: es[len(es)-1].Hash})
	receipt := s.SignReceipt(fairlog.Receipt{Event: "ev", Participant: "b", Offset: 11, AcceptedAt: 1})
	rep := check(t, Input{Log: bytes.NewReader(lines(es)), Keys: keysOf(s), Head: &head, Receipts: []fairlog.Receipt{receipt}})
	if !rep.OK() {
		t.Fatalf("problems in a fair log: %v", rep.Problems)
	}
	if rep.Winners != 2 || rep.Losers != 1 || !rep.Strict || len(rep.Receipts) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	if got := rep.Receipts[0]; !got.Found || got.Status != "SUCCESS" || got.Rank != 2 || got.Place != 2 {
		t.Fatalf("receipt result = %+v; want found, SUCCESS, rank 2, place 2", got)
	}
}

// Each way of cheating must be caught, by the check meant for it.
func TestTamperingIsCaught(t *testing.T) {
	t.Parallel()
	s := testSigner(t, 1)
	other := testSigner(t, 2)
	fair := fairEvent()
	tests := []struct {
		name    string
		log     func() []fairlog.Entry
		receipt func() *fairlog.Receipt
		head    func(es []fairlog.Entry) *fairlog.Head
		raw     func([]byte) []byte
		want    error
	}{
		{name: "an entry's content changed, hash kept", want: ErrChain, log: func() []fairlog.Entry {
			es := fairEvent()
			es[3].Status, es[3].Rank = "SUCCESS", 3 // c made a winner
			return es
		}},
		{name: "an entry changed and re-hashed", want: ErrChain, log: func() []fairlog.Entry {
			es := fairEvent()
			es[1].Participant = "mallory"
			es[1].Hash = es[1].ComputeHash()
			return es
		}},
		{name: "two entries swapped", want: ErrChain, log: func() []fairlog.Entry {
			es := fairEvent()
			es[1], es[2] = es[2], es[1]
			return es
		}},
		{name: "an entry dropped", want: ErrChain, log: func() []fairlog.Entry {
			es := fairEvent()
			return append(es[:2:2], es[3])
		}},
		{name: "a reordered log, chained anew", want: ErrOrder, log: func() []fairlog.Entry {
			// Offsets give the order away even when the chain is rebuilt.
			return chain(stock(2), won("b", 11, 1, 2), won("a", 10, 2, 2), lost("c", 12, 2))
		}},
		{name: "a winner after a loser with stock left", want: ErrFCFS, log: func() []fairlog.Entry {
			return chain(stock(2), won("a", 10, 1, 2), lost("b", 11, 2), won("c", 12, 2, 2))
		}},
		{name: "a winner with no stock left", want: ErrFCFS, log: func() []fairlog.Entry {
			return chain(stock(1), won("a", 10, 1, 1), won("b", 11, 2, 2))
		}},
		{name: "decided under a stock the log does not record", want: ErrFCFS, log: func() []fairlog.Entry {
			return chain(stock(1), won("a", 10, 1, 1), won("b", 11, 2, 5))
		}},
		{name: "a rank skipped", want: ErrFCFS, log: func() []fairlog.Entry {
			return chain(stock(3), won("a", 10, 1, 3), won("b", 11, 3, 3))
		}},
		{name: "one participant decided twice", want: ErrOrder, log: func() []fairlog.Entry {
			return chain(stock(3), won("a", 10, 1, 3), won("a", 11, 2, 3))
		}},
		{name: "an entry after the freeze", want: ErrFrozen, log: func() []fairlog.Entry {
			return chain(stock(3), won("a", 10, 1, 3), fairlog.Entry{Kind: fairlog.KindFreeze}, won("b", 11, 2, 3))
		}},
		{name: "an unknown field riding outside the hash", want: ErrFormat, raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`{"seq":3,`), []byte(`{"seq":3,"winner":"mallory",`), 1)
		}},
		{name: "a forged receipt (offset moved)", want: ErrReceipt, receipt: func() *fairlog.Receipt {
			r := s.SignReceipt(fairlog.Receipt{Event: "ev", Participant: "c", Offset: 12, AcceptedAt: 1})
			r.Offset = 10
			return &r
		}},
		{name: "a receipt signed with another key", want: ErrReceipt, receipt: func() *fairlog.Receipt {
			r := other.SignReceipt(fairlog.Receipt{Event: "ev", Participant: "c", Offset: 12, AcceptedAt: 1})
			r.KeyID = "k1"
			return &r
		}},
		{name: "a receipt whose place holds another participant", want: ErrReceipt, receipt: func() *fairlog.Receipt {
			r := s.SignReceipt(fairlog.Receipt{Event: "ev", Participant: "zed", Offset: 11, AcceptedAt: 1})
			return &r
		}},
		{name: "a receipt missing from the frozen log", want: ErrReceipt,
			log: func() []fairlog.Entry {
				return chain(stock(2), won("a", 10, 1, 2), fairlog.Entry{Kind: fairlog.KindFreeze})
			},
			receipt: func() *fairlog.Receipt {
				r := s.SignReceipt(fairlog.Receipt{Event: "ev", Participant: "b", Offset: 11, AcceptedAt: 1})
				return &r
			}},
		{name: "a head that does not match the log", want: ErrHead, head: func(es []fairlog.Entry) *fairlog.Head {
			h := s.SignHead(fairlog.Head{Event: "ev", Entries: int64(len(es)) - 1, Hash: es[len(es)-2].Hash})
			return &h
		}},
		{name: "a head with a forged signature", want: ErrHead, head: func(es []fairlog.Entry) *fairlog.Head {
			h := other.SignHead(fairlog.Head{Event: "ev", Entries: int64(len(es)), Hash: es[len(es)-1].Hash})
			h.KeyID = "k1"
			return &h
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			es := fair
			if tt.log != nil {
				es = tt.log()
			}
			b := lines(es)
			if tt.raw != nil {
				b = tt.raw(b)
			}
			in := Input{Log: bytes.NewReader(b), Keys: keysOf(s)}
			if tt.receipt != nil {
				in.Receipts = []fairlog.Receipt{*tt.receipt()}
			}
			if tt.head != nil {
				in.Head = tt.head(es)
			}
			rep := check(t, in)
			if !rep.Has(tt.want) {
				t.Fatalf("want a %q problem, got %v", tt.want, rep.Problems)
			}
		})
	}
}

func TestStockChangesAreReplayedInLogOrder(t *testing.T) {
	t.Parallel()
	s := testSigner(t, 1)
	tests := []struct {
		name string
		log  []fairlog.Entry
		ok   bool
	}{
		{name: "stock raised after a sell-out", ok: true, log: chain(stock(1), won("a", 1, 1, 1), lost("b", 2, 1), stock(2), won("c", 3, 2, 2))},
		// The raise reached Redis before its entry reached the log: the
		// writer logs the stock it was decided under first.
		{name: "decided under a change still on its way", ok: true, log: chain(stock(1), won("a", 1, 1, 1), seen(2), won("c", 3, 2, 2), stock(2))},
		{name: "the same without the stock-seen entry", ok: false, log: chain(stock(1), won("a", 1, 1, 1), won("c", 3, 2, 2), stock(2))},
		// While a lowering is pending the smaller stock counts.
		{name: "decided under a pending lowering", ok: true, log: chain(stock(3), won("a", 1, 1, 3), seen(1), lost("b", 2, 1), stock(1))},
		// A change Redis applied, overtaken by a newer one before it was
		// persisted: only its stock-seen entry records it.
		{name: "decided under a change that was overtaken", ok: true, log: chain(stock(1), won("a", 1, 1, 1), seen(5), won("b", 2, 2, 5), seen(3), won("c", 3, 3, 3), lost("d", 4, 3), stock(3))},
		{name: "stock set below the winners", ok: false, log: chain(stock(2), won("a", 1, 1, 2), won("b", 2, 2, 2), stock(1))},
		{name: "stock seen below the winners", ok: false, log: chain(stock(2), won("a", 1, 1, 2), won("b", 2, 2, 2), seen(1), lost("c", 3, 1))},
		{name: "a stock-seen entry that no decision used", ok: true, log: chain(stock(2), seen(4), stock(3), won("a", 1, 1, 3))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep := check(t, Input{Log: bytes.NewReader(lines(tt.log)), Keys: keysOf(s)})
			if rep.OK() != tt.ok {
				t.Fatalf("OK = %v, want %v: %v", rep.OK(), tt.ok, rep.Problems)
			}
		})
	}
}

func TestSeveralPartitionsAreCheckedPerPartition(t *testing.T) {
	t.Parallel()
	s := testSigner(t, 1)
	at := func(e fairlog.Entry, p int32) fairlog.Entry { e.Partition = p; return e }
	// Partition 1's batch was decided first in Redis but committed second.
	ok := chain(stock(3), at(won("x", 5, 3, 3), 0), at(won("a", 7, 1, 3), 1), at(won("b", 8, 2, 3), 1), at(lost("y", 6, 3), 0))
	rep := check(t, Input{Log: bytes.NewReader(lines(ok)), Keys: keysOf(s)})
	if !rep.OK() || rep.Strict || len(rep.Partitions) != 2 {
		t.Fatalf("report %+v: %v", rep, rep.Problems)
	}
	bad := chain(stock(3), at(won("x", 5, 1, 3), 0), at(lost("a", 7, 3), 1), at(won("y", 4, 2, 3), 0))
	rep = check(t, Input{Log: bytes.NewReader(lines(bad)), Keys: keysOf(s)})
	if !rep.Has(ErrOrder) || !rep.Has(ErrFCFS) {
		t.Fatalf("want order (partition 0 went back) and FCFS (a lost under stock 3 with 2 winners) problems, got %v", rep.Problems)
	}
}

func TestReceiptFiles(t *testing.T) {
	t.Parallel()
	s := testSigner(t, 1)
	r := s.SignReceipt(fairlog.Receipt{Event: "ev", Participant: "p", Offset: 3})
	for _, form := range []string{`%s`, `{"receipt":%s}`, `{"status":202,"result":{"status":"PENDING","receipt":%s}}`} {
		b := []byte(fmt.Sprintf(form, mustJSON(t, r)))
		got, err := ParseReceipt(b)
		if err != nil || got != r {
			t.Fatalf("ParseReceipt(%s) = %+v, %v", b, got, err)
		}
	}
	if _, err := ParseReceipt([]byte(`{"v":1}`)); err == nil {
		t.Fatal("a receipt without a signature was read")
	}
}

func mustJSON(t *testing.T, r fairlog.Receipt) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `{"v":%d,"event":%q,"participant":%q,"partition":%d,"offset":%d,"acceptedAt":%d,"kid":%q,"sig":%q}`,
		r.Version, r.Event, r.Participant, r.Partition, r.Offset, r.AcceptedAt, r.KeyID, r.Signature)
	return b.String()
}

// A participant's application can be decided from another copy than the
// one their receipt names: an earlier copy (the receipt's is then a replay)
// or no message at all (stranded, offset -1). A later copy is a problem.
func TestReceiptOfAnotherCopyOfTheApplication(t *testing.T) {
	t.Parallel()
	s := testSigner(t, 1)
	stranded := won("p", -1, 1, 2)
	tests := []struct {
		name   string
		log    []fairlog.Entry
		offset int64
		ok     bool
	}{
		{name: "decided from an earlier copy", log: chain(stock(2), won("p", 5, 1, 2)), offset: 9, ok: true},
		{name: "decided without its message", log: chain(stock(2), stranded), offset: 9, ok: true},
		{name: "decided from a later copy", log: chain(stock(2), won("p", 12, 1, 2)), offset: 9, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := s.SignReceipt(fairlog.Receipt{Event: "ev", Participant: "p", Offset: tt.offset})
			rep := check(t, Input{Log: bytes.NewReader(lines(tt.log)), Keys: keysOf(s), Receipts: []fairlog.Receipt{r}})
			if rep.OK() != tt.ok || (tt.ok && !rep.Receipts[0].Found) {
				t.Fatalf("OK = %v (found %v), want %v: %v", rep.OK(), rep.Receipts[0].Found, tt.ok, rep.Problems)
			}
		})
	}
}

func late(e fairlog.Entry) fairlog.Entry {
	e.Kind = fairlog.KindLateDecision
	return e
}

// A dead-lettered application's decision is persisted after the decisions
// behind it in line; the verifier replays it at its place, under the stock
// of its place, and counts it there for everyone after it.
func TestLateDecisionsAreReplayedAtTheirPlace(t *testing.T) {
	t.Parallel()
	s := testSigner(t, 1)
	tests := []struct {
		name string
		log  []fairlog.Entry
		want error // nil: the log passes
	}{
		{name: "a late winner", log: chain(stock(2), won("a", 10, 1, 2), lost("c", 12, 2), lost("d", 13, 2), late(won("b", 11, 2, 2)))},
		{name: "a late loser", log: chain(stock(1), won("a", 10, 1, 1), lost("c", 12, 1), late(lost("b", 11, 1)))},
		{name: "late, but nothing behind it came first", log: chain(stock(2), won("a", 10, 1, 2), late(won("b", 11, 2, 2)), lost("c", 12, 2))},
		{name: "late across a stock raise", log: chain(stock(1), won("a", 10, 1, 1), stock(3), won("c", 12, 3, 3), late(won("b", 11, 2, 3)))},
		{name: "a late winner with no stock left at its place", want: ErrFCFS,
			log: chain(stock(1), won("a", 10, 1, 1), lost("c", 12, 1), late(won("b", 11, 2, 2)))},
		{name: "a late winner with the rank of a later place", want: ErrFCFS,
			log: chain(stock(3), won("a", 10, 1, 3), won("c", 12, 2, 3), late(won("b", 11, 3, 3)))},
		{name: "a late loser with stock left at its place", want: ErrFCFS,
			log: chain(stock(3), won("a", 10, 1, 3), won("c", 12, 2, 3), late(lost("b", 11, 3)))},
		{name: "a late decision at a place another holds", want: ErrOrder,
			log: chain(stock(3), won("a", 10, 1, 3), late(won("b", 10, 2, 3)))},
		{name: "a late decision without its place", want: ErrFormat,
			log: chain(stock(3), won("a", 10, 1, 3), late(won("b", -1, 2, 3)))},
		{name: "a late decision of a participant decided already", want: ErrOrder,
			log: chain(stock(3), won("a", 10, 1, 3), won("c", 12, 3, 3), late(won("a", 11, 2, 3)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep := check(t, Input{Log: bytes.NewReader(lines(tt.log)), Keys: keysOf(s)})
			if tt.want == nil && !rep.OK() {
				t.Fatalf("problems: %v", rep.Problems)
			}
			if tt.want != nil && !rep.Has(tt.want) {
				t.Fatalf("want a %q problem, got %v", tt.want, rep.Problems)
			}
		})
	}

	// The late winner's receipt finds it, at its place in line.
	es := tests[0].log
	r := s.SignReceipt(fairlog.Receipt{Event: "ev", Participant: "b", Offset: 11, AcceptedAt: 1})
	rep := check(t, Input{Log: bytes.NewReader(lines(es)), Keys: keysOf(s), Receipts: []fairlog.Receipt{r}})
	if got := rep.Receipts[0]; !rep.OK() || !got.Found || got.Status != "SUCCESS" || got.Rank != 2 || got.Place != 2 {
		t.Fatalf("receipt result = %+v (%v); want found, SUCCESS, rank 2, place 2", got, rep.Problems)
	}
	if rep.Decisions != 4 || rep.Winners != 2 || rep.Losers != 2 || rep.Late != 1 {
		t.Fatalf("report counts %d decisions (%d late), %d won, %d lost; want 4 (1 late), 2, 2", rep.Decisions, rep.Late, rep.Winners, rep.Losers)
	}
}
