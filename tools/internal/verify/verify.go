// Package verify checks Farewell's fairness evidence without trusting the
// servers: the decision log's hash chain, its signed head, first-come-
// first-served replayed over the logged decisions and stock changes, and a
// participant's signed receipt against the log. Everything it needs is
// public: the log, the head and the keys the gateway serves.
package verify

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/terning-farewell/farewell/pkg/fairlog"
)

// Problem kinds: what a check found wrong. Tests and callers switch on them.
var (
	// ErrFormat: a line is not a log entry.
	ErrFormat = errors.New("malformed entry")
	// ErrChain: a hash, a previous hash or a sequence number does not link.
	ErrChain = errors.New("broken hash chain")
	// ErrHead: the signed head does not match the log or its signature.
	ErrHead = errors.New("head does not match")
	// ErrFrozen: an entry follows the freeze entry.
	ErrFrozen = errors.New("entry after the log froze")
	// ErrOrder: a partition's offsets go backwards, or a participant is
	// decided twice.
	ErrOrder = errors.New("out of log order")
	// ErrFCFS: a decision is not what first-come-first-served gives.
	ErrFCFS = errors.New("not first-come-first-served")
	// ErrReceipt: the receipt is forged or contradicts the log.
	ErrReceipt = errors.New("receipt does not check")
)

// Problem is one finding, at a log sequence number (0: not at an entry).
type Problem struct {
	Seq int64
	Err error
}

func (p Problem) String() string {
	if p.Seq > 0 {
		return fmt.Sprintf("entry %d: %v", p.Seq, p.Err)
	}
	return p.Err.Error()
}

// Input is what the verifier is given.
type Input struct {
	// Log is the exported log, one JSON entry a line.
	Log io.Reader
	// Keys are the public keys (from GET /api/event/keys).
	Keys fairlog.KeySet
	// Head, if given, is the signed head (GET /api/event/log/head).
	Head *fairlog.Head
	// Receipts, if given, are participants' receipts from their 202s.
	Receipts []fairlog.Receipt
}

// ReceiptResult is what the log says of a receipt's application.
type ReceiptResult struct {
	Receipt fairlog.Receipt
	// Found is false while the application is not in the log yet.
	Found bool
	// Seq is the decision's log entry.
	Seq    int64
	Status string
	Rank   int64
	// Place is the decision's place among the decisions of its partition
	// that came from Kafka (1-based); with one partition, among all.
	Place int64
}

// Report is the outcome of Check.
type Report struct {
	Event     string
	Entries   int64
	Decisions int64
	Winners   int64
	Losers    int64
	// Stock is the last logged stock.
	Stock int64
	// StockSeen counts stock-seen entries: stocks decisions were made
	// under before (or instead of) an admin change's own entry.
	StockSeen int64
	// Late counts late decisions, replayed at their place in line.
	Late   int64
	Head   string
	Frozen bool
	// Partitions are the partitions decisions came from. With more than one,
	// the log's order is the commit order of batches of different
	// partitions, so only the per-partition order and the counts are
	// checked (Strict is false); with one, the full replay.
	Partitions []int32
	Strict     bool
	Receipts   []ReceiptResult
	Problems   []Problem
}

// OK reports whether nothing was found wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Has reports whether a problem of kind was found.
func (r Report) Has(kind error) bool {
	for _, p := range r.Problems {
		if errors.Is(p.Err, kind) {
			return true
		}
	}
	return false
}

// maxProblems bounds the report: past it, more findings add nothing.
const maxProblems = 50

func (r *Report) add(seq int64, kind error, format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, Problem{Seq: seq, Err: fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))})
	}
}

// Check runs every check on in and reports what it found.
func Check(in Input) (Report, error) {
	entries, rep, err := readChain(in.Log)
	if err != nil {
		return rep, err
	}
	checkHead(&rep, entries, in)
	replay(&rep, entries)
	if len(in.Receipts) > 0 {
		checkReceipts(&rep, entries, in)
	}
	return rep, nil
}

// readChain parses the log and checks the chain: sequence numbers 1, 2, …,
// each Prev the previous Hash, each Hash the entry's own, one event, and
// nothing after a freeze entry.
func readChain(r io.Reader) ([]fairlog.Entry, Report, error) {
	var rep Report
	var entries []fairlog.Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prev := fairlog.GenesisHash
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		want := int64(len(entries)) + 1
		e, err := fairlog.ParseEntry(line)
		if err != nil {
			rep.add(want, ErrFormat, "%v", err)
			// Keep the chain going from what the line claims, so one bad line
			// is one problem.
			entries = append(entries, fairlog.Entry{Seq: want})
			continue
		}
		if e.Seq != want {
			rep.add(want, ErrChain, "sequence number %d, want %d (an entry is missing, added or moved)", e.Seq, want)
		}
		if e.Prev != prev {
			rep.add(want, ErrChain, "previous hash %.12s… is not the hash of entry %d (%.12s…)", e.Prev, want-1, prev)
		}
		if got := e.ComputeHash(); got != e.Hash {
			rep.add(want, ErrChain, "hash %.12s… does not match the entry's content (%.12s…)", e.Hash, got)
		}
		if rep.Event == "" {
			rep.Event = e.Event
		} else if e.Event != rep.Event {
			rep.add(want, ErrFormat, "event %q in a log of %q", e.Event, rep.Event)
		}
		if rep.Frozen {
			rep.add(want, ErrFrozen, "%s entry after the freeze", e.Kind)
		}
		if e.Kind == fairlog.KindFreeze {
			rep.Frozen = true
		}
		prev = e.Hash
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, rep, fmt.Errorf("read log: %w", err)
	}
	rep.Entries = int64(len(entries))
	rep.Head = prev
	return entries, rep, nil
}

func checkHead(rep *Report, entries []fairlog.Entry, in Input) {
	h := in.Head
	if h == nil {
		return
	}
	if err := in.Keys.VerifyHead(*h); err != nil {
		rep.add(0, ErrHead, "head signature: %v", err)
	}
	if h.Entries != int64(len(entries)) || h.Hash != rep.Head || h.Frozen != rep.Frozen {
		rep.add(0, ErrHead, "head says %d entries ending %.12s… (frozen %v); the log has %d ending %.12s… (frozen %v)",
			h.Entries, h.Hash, h.Frozen, len(entries), rep.Head, rep.Frozen)
	}
	if rep.Event != "" && h.Event != rep.Event {
		rep.add(0, ErrHead, "head of event %q, log of %q", h.Event, rep.Event)
	}
}

// replay walks the log in order. Every participant is decided once; each
// partition's offsets grow. Each decision records the stock it was decided
// under, which must be the stock the log is at: the last stock entry (an
// admin change) or stock-seen entry (the stock Redis held, written before
// the decisions made under it). Then, strictly (one partition): while fewer
// than that stock won, the next decision wins with the next rank; after,
// it loses.
//
// A late decision (fairlog.KindLateDecision) is replayed at its place:
// just before the first decision of its partition with a higher offset,
// or where it stands when none came before it. It is held to the stock
// rule under one of the stocks the log was at between the decisions
// either side of its place.
func replay(rep *Report, entries []fairlog.Entry) {
	partitions := map[int32]bool{}
	for _, e := range entries {
		if e.Kind.IsDecision() && e.Offset >= 0 {
			partitions[e.Partition] = true
		}
	}
	for p := range partitions {
		rep.Partitions = append(rep.Partitions, p)
	}
	slices.Sort(rep.Partitions)
	rep.Strict = len(rep.Partitions) <= 1

	r := newReplayer(rep, entries)
	for _, e := range entries {
		switch e.Kind {
		case fairlog.KindStock, fairlog.KindStockSeen:
			r.setStock(e)
		case fairlog.KindDecision:
			rep.Decisions++
			r.placeLate(e.Partition, e.Offset)
			r.decide(e, false)
		case fairlog.KindLateDecision:
			rep.Decisions++
			rep.Late++
			if !r.replayed[e.Seq] {
				r.decide(e, true) // nothing behind its place came before it: its place is here
			}
		case fairlog.KindWindow, fairlog.KindFreeze:
		default:
			if e.Kind != "" {
				rep.add(e.Seq, ErrFormat, "unknown kind %q", e.Kind)
			}
		}
	}
	rep.Winners = r.winners
	rep.Stock = r.stock
	if !rep.Strict {
		// Ranks are 1..winners, each once, whatever the commit order.
		for rank := int64(1); rank <= r.winners; rank++ {
			if r.ranks[rank] == 0 {
				rep.add(0, ErrFCFS, "rank %d was never given, with %d winners", rank, r.winners)
				break
			}
		}
		if r.maxLoserStock > r.winners {
			rep.add(0, ErrFCFS, "a participant lost under stock %d, but only %d won", r.maxLoserStock, r.winners)
		}
	}
}

// replayer is the state of one replay.
type replayer struct {
	rep            *Report
	stock, winners int64
	// stocksSince are the stocks the log was at since the last decision
	// (the one it was decided under first): a late decision placed now was
	// decided under one of them.
	stocksSince   []int64
	seen          map[string]int64
	lastOffset    map[int32]int64
	ranks         map[int64]int64
	maxLoserStock int64
	// late are each partition's late decisions not replayed yet, by offset.
	late     map[int32][]fairlog.Entry
	replayed map[int64]bool
}

func newReplayer(rep *Report, entries []fairlog.Entry) *replayer {
	r := &replayer{rep: rep, stocksSince: []int64{0}, seen: map[string]int64{}, lastOffset: map[int32]int64{},
		ranks: map[int64]int64{}, late: map[int32][]fairlog.Entry{}, replayed: map[int64]bool{}}
	for _, e := range entries {
		if e.Kind != fairlog.KindLateDecision {
			continue
		}
		if e.Offset < 0 {
			rep.add(e.Seq, ErrFormat, "a late decision without its place (offset %d)", e.Offset)
			continue
		}
		r.late[e.Partition] = append(r.late[e.Partition], e)
	}
	for _, l := range r.late {
		slices.SortStableFunc(l, func(a, b fairlog.Entry) int { return cmp.Compare(a.Offset, b.Offset) })
	}
	return r
}

func (r *replayer) setStock(e fairlog.Entry) {
	if e.Stock < 0 {
		r.rep.add(e.Seq, ErrFCFS, "negative stock %d", e.Stock)
	}
	// With several partitions the log is in commit order, and a batch
	// decided before another's winners may commit after them; only an
	// admin change must never go below the winners.
	if e.Stock < r.winners && (e.Kind == fairlog.KindStock || r.rep.Strict) {
		r.rep.add(e.Seq, ErrFCFS, "stock set to %d below the %d winners so far", e.Stock, r.winners)
	}
	if e.Kind == fairlog.KindStockSeen {
		r.rep.StockSeen++
	}
	r.stock = e.Stock
	r.stocksSince = append(r.stocksSince, e.Stock)
}

// placeLate replays the late decisions of partition whose place comes
// before offset, in offset order.
func (r *replayer) placeLate(partition int32, offset int64) {
	if offset < 0 {
		return
	}
	pending := r.late[partition]
	for len(pending) > 0 && pending[0].Offset < offset {
		if !r.replayed[pending[0].Seq] {
			r.decide(pending[0], true)
		}
		pending = pending[1:]
	}
	r.late[partition] = pending
}

// decide replays one decision; late says it is a late decision replayed
// at its place.
func (r *replayer) decide(e fairlog.Entry, late bool) {
	rep := r.rep
	if late {
		r.replayed[e.Seq] = true
	}
	if e.Participant == "" {
		rep.add(e.Seq, ErrFormat, "decision without a participant")
	} else if first, dup := r.seen[e.Participant]; dup {
		rep.add(e.Seq, ErrOrder, "participant %.12s… decided twice (first at entry %d)", e.Participant, first)
	} else {
		r.seen[e.Participant] = e.Seq
	}
	if e.Offset >= 0 {
		if last, ok := r.lastOffset[e.Partition]; ok && e.Offset <= last {
			rep.add(e.Seq, ErrOrder, "offset %d of partition %d after offset %d", e.Offset, e.Partition, last)
		}
		r.lastOffset[e.Partition] = e.Offset
	}
	// The stocks it may have been decided under: the log's, or for a late
	// decision any the log was at since the decision before its place.
	stocks := []int64{r.stock}
	if late {
		stocks = r.stocksSince
	} else if e.Stock != r.stock {
		rep.add(e.Seq, ErrFCFS, "decided under stock %d, but the log's stock is %d", e.Stock, r.stock)
	}
	r.stocksSince = []int64{r.stock}
	switch e.Status {
	case "SUCCESS":
		r.winners++
		if r.ranks[e.Rank] != 0 {
			rep.add(e.Seq, ErrFCFS, "rank %d given twice (first at entry %d)", e.Rank, r.ranks[e.Rank])
		}
		r.ranks[e.Rank] = e.Seq
		if e.Rank < 1 || e.Rank > e.Stock {
			rep.add(e.Seq, ErrFCFS, "won rank %d under stock %d", e.Rank, e.Stock)
		}
	case "FAILURE":
		rep.Losers++
		if e.Rank != 0 {
			rep.add(e.Seq, ErrFormat, "a loser with rank %d", e.Rank)
		}
		if !late {
			r.maxLoserStock = max(r.maxLoserStock, e.Stock)
		}
	default:
		rep.add(e.Seq, ErrFormat, "unknown status %q", e.Status)
		return
	}
	if !rep.Strict {
		return
	}
	// Winners so far, this one excluded.
	before := r.winners
	if e.Status == "SUCCESS" {
		before--
	}
	switch {
	case e.Status == "SUCCESS" && before >= slices.Max(stocks):
		rep.add(e.Seq, ErrFCFS, "won with no stock left (%d winners before, stock %d)", before, slices.Max(stocks))
	case e.Status == "SUCCESS" && e.Rank != before+1:
		rep.add(e.Seq, ErrFCFS, "won rank %d, but %d won before it", e.Rank, before)
	case e.Status == "FAILURE" && before < slices.Min(stocks):
		rep.add(e.Seq, ErrFCFS, "lost while stock was left (%d winners, stock %d)", before, slices.Min(stocks))
	}
}

// checkReceipts verifies each receipt's signature and finds its
// application in the log by its place (partition, offset), which must name
// the same participant. A receipt whose application is not in the log is a
// problem once the log is frozen; before, the application may be pending.
func checkReceipts(rep *Report, entries []fairlog.Entry, in Input) {
	type place struct {
		partition int32
		offset    int64
	}
	byPlace := map[place]fairlog.Entry{}
	byParticipant := map[string]fairlog.Entry{}
	// placeOf[seq] is the decision's 1-based place among the decisions of
	// its partition that came from Kafka, in offset order (a late decision
	// counts at its place).
	fromKafka := map[int32][]fairlog.Entry{}
	for _, e := range entries {
		if !e.Kind.IsDecision() {
			continue
		}
		if e.Offset >= 0 {
			byPlace[place{e.Partition, e.Offset}] = e
			fromKafka[e.Partition] = append(fromKafka[e.Partition], e)
		}
		if _, ok := byParticipant[e.Participant]; !ok {
			byParticipant[e.Participant] = e
		}
	}
	placeOf := map[int64]int64{}
	for _, es := range fromKafka {
		slices.SortStableFunc(es, func(a, b fairlog.Entry) int { return cmp.Compare(a.Offset, b.Offset) })
		for i, e := range es {
			placeOf[e.Seq] = int64(i + 1)
		}
	}
	for _, r := range in.Receipts {
		res := ReceiptResult{Receipt: r}
		rep.Receipts = append(rep.Receipts, res)
		ptr := &rep.Receipts[len(rep.Receipts)-1]
		if err := in.Keys.VerifyReceipt(r); err != nil {
			rep.add(0, ErrReceipt, "receipt at offset %d: signature: %v", r.Offset, err)
			continue
		}
		if rep.Event != "" && r.Event != rep.Event {
			rep.add(0, ErrReceipt, "receipt of event %q, log of %q", r.Event, rep.Event)
			continue
		}
		if e, ok := byPlace[place{r.Partition, r.Offset}]; ok && e.Participant != r.Participant {
			rep.add(e.Seq, ErrReceipt, "the receipt's place (partition %d, offset %d) holds another participant", r.Partition, r.Offset)
			continue
		}
		e, ok := byParticipant[r.Participant]
		if !ok {
			if rep.Frozen {
				rep.add(0, ErrReceipt, "the application of the receipt at offset %d is not in the frozen log", r.Offset)
			}
			continue
		}
		// The participant's one decision carries the receipt's place, unless
		// it was decided from an earlier copy of the application (a retry
		// after a lost acknowledgement) or without its message (stranded).
		if e.Offset >= 0 && (e.Partition != r.Partition || e.Offset > r.Offset) {
			rep.add(e.Seq, ErrReceipt, "the participant was decided from offset %d of partition %d, not from the receipt's place (offset %d)",
				e.Offset, e.Partition, r.Offset)
			continue
		}
		ptr.Found, ptr.Seq, ptr.Status, ptr.Rank, ptr.Place = true, e.Seq, e.Status, e.Rank, placeOf[e.Seq]
	}
}
