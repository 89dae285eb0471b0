package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/terning-farewell/farewell/pkg/kafka"
)

// Result is one scenario's line in the report.
type Result struct {
	Scenario    string
	Requests    int
	Accepted    int // 202 answers
	Conflicts   int // 409 answers
	Unavailable int // 503 answers
	Other       int // anything else: 502/504 from nginx, broken connections
	Winners     int64
	Expected    int64
	DupEmails   int
	// Recovery is from the moment the fault was undone (or the herd ended,
	// without a fault) until every check passed: all components ready, every
	// accepted application decided and persisted, zero lag, every email in.
	Recovery   time.Duration
	Settled    bool
	Duration   time.Duration
	Violations []string
	Notes      []string
	// Err is set when the scenario could not run to its checks.
	Err error
}

// Passed reports whether the scenario ran and every invariant held.
func (res Result) Passed() bool { return res.Err == nil && len(res.Violations) == 0 }

// snapshot is everything the checks read, at one moment.
type snapshot struct {
	rows      map[string][]row
	decisions map[string]string
	applied   map[string]string
	mails     map[string][]Mail // by recipient (run's participants only)
	foreign   int               // messages to addresses that are not participants
	lags      []Lag
	dlq       []DeadLetter
	unready   []string
	err       error
}

func (r *Run) collect(ctx context.Context) snapshot {
	var sn snapshot
	sn.unready = r.S.Unready(ctx)
	var err error
	if sn.rows, err = r.S.prefixRows(ctx, r.Prefix); err != nil {
		sn.err = err
		return sn
	}
	if sn.decisions, err = r.S.hmget(ctx, r.S.Keys.Decisions, r.Participants); err != nil {
		sn.err = err
		return sn
	}
	if sn.applied, err = r.S.hmget(ctx, r.S.Keys.Applied, r.Participants); err != nil {
		sn.err = err
		return sn
	}
	if sn.lags, err = r.S.Lags(ctx); err != nil {
		sn.err = err
		return sn
	}
	if sn.dlq, err = r.S.ReadDLQ(ctx, r.dlqMark); err != nil {
		sn.err = err
		return sn
	}
	mails, err := r.S.Mailpit.Search(ctx, r.Prefix)
	if err != nil {
		sn.err = err
		return sn
	}
	sn.mails = map[string][]Mail{}
	for _, m := range mails {
		for _, to := range m.To {
			if _, ok := r.index[to]; ok {
				sn.mails[to] = append(sn.mails[to], m)
			} else if strings.HasPrefix(to, r.Prefix) {
				sn.foreign++
			}
		}
	}
	return sn
}

func (s *Stack) notifyLosers() bool {
	v := strings.ToLower(s.Env["FAREWELL_NOTIFY_LOSERS"])
	return v == "true" || v == "1" || v == "yes"
}

// dlqByKey indexes the run's dead-lettered decisions by email.
func (r *Run) dlqDecisions(sn snapshot) map[string]DeadLetter {
	out := map[string]DeadLetter{}
	decisionsDLQ := kafka.DeadLetter(envOr(r.S.Env, "FAREWELL_DECISIONS_TOPIC", kafka.TopicDecisions))
	for _, d := range sn.dlq {
		if d.Topic == decisionsDLQ {
			if _, ok := r.index[strings.ToLower(d.Key)]; ok {
				out[strings.ToLower(d.Key)] = d
			}
		}
	}
	return out
}

// pending explains why the run has not settled yet ("" when it has).
func (r *Run) pending(sn snapshot, acc answers) string {
	if sn.err != nil {
		return sn.err.Error()
	}
	if len(sn.unready) > 0 {
		return "not ready: " + strings.Join(sn.unready, ", ")
	}
	undecided := 0
	for i := range acc.accepted {
		e := r.Participants[i]
		if len(sn.rows[e]) == 0 || sn.decisions[e] == "" {
			undecided++
		}
	}
	if undecided > 0 {
		return fmt.Sprintf("%d accepted applications not decided+persisted yet", undecided)
	}
	unpersisted := 0
	for e, d := range sn.decisions {
		if d != "" && len(sn.rows[e]) == 0 {
			unpersisted++
		}
	}
	if unpersisted > 0 {
		return fmt.Sprintf("%d decisions in Redis not in MySQL yet", unpersisted)
	}
	if text, n := behind(sn.lags); n > 0 {
		return "lag: " + text
	}
	dead := r.dlqDecisions(sn)
	missing := 0
	for e, rs := range sn.rows {
		if len(rs) == 0 || !(rs[0].Status == "SUCCESS" || r.S.notifyLosers()) {
			continue
		}
		if len(sn.mails[e]) == 0 {
			if _, ok := dead[e]; !ok {
				missing++
			}
		}
	}
	if missing > 0 {
		return fmt.Sprintf("%d emails not in Mailpit yet", missing)
	}
	return ""
}

// Verify waits (bounded) until the run settles, then checks every invariant
// and returns the run's result.
func (r *Run) Verify(ctx context.Context) Result {
	from := r.FaultEnd
	if from.IsZero() {
		from = r.lastAnswer()
	}
	acc := r.answers()
	deadline := time.Now().Add(r.Opts.SettleTimeout)
	var res Result
	res.Scenario = r.Name
	lastReason, lastLog := "", time.Time{}
	for {
		sn := r.collect(ctx)
		reason := r.pending(sn, acc)
		if reason == "" {
			res.Settled = true
			res.Recovery = time.Since(from)
			r.Event("settled %s after the fault was undone / the herd ended", res.Recovery.Round(100*time.Millisecond))
			break
		}
		if reason != lastReason || time.Since(lastLog) > 10*time.Second {
			r.Event("waiting: %s", reason)
			lastReason, lastLog = reason, time.Now()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			res.Recovery = time.Since(from)
			r.Violationf("did not settle within %s: %s", r.Opts.SettleTimeout, reason)
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	// Late duplicates (an email sent twice) would show up now.
	select {
	case <-ctx.Done():
	case <-time.After(1500 * time.Millisecond):
	}
	sn := r.collect(context.WithoutCancel(ctx))
	if sn.err != nil {
		r.Violationf("could not read the sources of truth: %v", sn.err)
	} else {
		r.check(ctx, sn, acc, &res)
	}
	r.mu.Lock()
	for _, a := range r.Attempts {
		res.Requests++
		switch a.HTTP {
		case 202:
			res.Accepted++
		case 409:
			res.Conflicts++
		case 503:
			res.Unavailable++
		default:
			res.Other++
		}
	}
	res.Violations = append(res.Violations, r.violations...)
	res.Notes = append(res.Notes, r.notes...)
	r.mu.Unlock()
	res.Duration = time.Since(r.started)
	return res
}

func (r *Run) lastAnswer() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t time.Time
	for _, a := range r.Attempts {
		if a.End.After(t) {
			t = a.End
		}
	}
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// examples formats up to 5 counterexamples and the total.
func examples(list []string) string {
	sort.Strings(list)
	if len(list) > 5 {
		return fmt.Sprintf("%s … (%d in all)", strings.Join(list[:5], "; "), len(list))
	}
	return strings.Join(list, "; ")
}

// check runs every invariant on a settled snapshot.
func (r *Run) check(ctx context.Context, sn snapshot, acc answers, res *Result) {
	r.checkSnapshot(sn, acc, res)
	// Event-wide: counters agree with the source of truth, stock persisted.
	r.checkEvent(ctx)
	// The participant-facing status agrees with the decision.
	r.checkStatusSample(ctx, sn, acc)
}

// checkSnapshot checks the run's participants, emails, offsets and dead
// letters as read in sn; it does no I/O.
func (r *Run) checkSnapshot(sn snapshot, acc answers, res *Result) {
	// One person, one row, one decision; rows and Redis agree.
	var multiRow, noRow, disagree, orphanDecision, multiAccept, strandedList []string
	var winnerRanks []int64
	decided := 0
	extra, extra503 := 0, 0
	for i, e := range r.Participants {
		rows := sn.rows[e]
		d := sn.decisions[e]
		if len(rows) > 1 {
			multiRow = append(multiRow, fmt.Sprintf("%s has %d rows", e, len(rows)))
		}
		if n := acc.accepted[i]; n > 1 && !r.Opts.AllowReaccept {
			multiAccept = append(multiAccept, fmt.Sprintf("%s got %d×202", e, n))
		}
		if len(rows) == 0 {
			if acc.accepted[i] > 0 {
				noRow = append(noRow, fmt.Sprintf("%s got 202 but has no MySQL row (redis decision %q)", e, d))
			}
			if d != "" {
				orphanDecision = append(orphanDecision, fmt.Sprintf("%s decided %q in Redis, no MySQL row", e, d))
			} else if sn.applied[e] != "" {
				strandedList = append(strandedList, fmt.Sprintf("%s marker %q, no decision", e, sn.applied[e]))
			}
			continue
		}
		decided++
		if acc.accepted[i] == 0 {
			extra++
			if acc.told503[i] {
				extra503++
			}
		}
		rw := rows[0]
		want := fmt.Sprintf("%s:%d", rw.Status, rw.Rank)
		if d != want {
			disagree = append(disagree, fmt.Sprintf("%s MySQL %s vs Redis %q", e, want, d))
		}
		if rw.Status == "SUCCESS" {
			winnerRanks = append(winnerRanks, rw.Rank)
		}
	}
	if len(multiRow) > 0 {
		r.Violationf("participants with more than one row: %s", examples(multiRow))
	}
	if len(noRow) > 0 {
		r.Violationf("202 is not durable — accepted applications without a decision: %s", examples(noRow))
	}
	if len(disagree) > 0 {
		r.Violationf("MySQL and Redis disagree: %s", examples(disagree))
	}
	if len(orphanDecision) > 0 {
		r.Violationf("decisions in Redis never persisted to MySQL: %s", examples(orphanDecision))
	}
	if len(multiAccept) > 0 {
		r.Violationf("duplicate applies accepted more than once: %s", examples(multiAccept))
	}
	if len(strandedList) > 0 {
		r.Violationf("stranded admissions (marker without decision after every retry): %s", examples(strandedList))
	}
	if extra > 0 {
		r.Notef("%d participants were decided without ever getting a 202 (%d of them were told 503: the gateway undid its marker but the message was still published later): allowed, rows consistent", extra, extra503)
	}

	// Never oversell, never undersell.
	res.Winners = int64(len(winnerRanks))
	res.Expected = min(r.Stock, int64(decided))
	if res.Winners != res.Expected {
		r.Violationf("winners = %d, want min(S=%d, decided participants=%d) = %d (accepted with 202: %d)",
			res.Winners, r.Stock, decided, res.Expected, len(acc.accepted))
	}
	sort.Slice(winnerRanks, func(a, b int) bool { return winnerRanks[a] < winnerRanks[b] })
	var badRank []string
	for k, rank := range winnerRanks {
		if k > 0 && rank == winnerRanks[k-1] {
			badRank = append(badRank, fmt.Sprintf("rank %d twice", rank))
		}
		if rank <= r.WinnersBefore || rank > r.WinnersBefore+r.Stock {
			badRank = append(badRank, fmt.Sprintf("rank %d outside (%d, %d]", rank, r.WinnersBefore, r.WinnersBefore+r.Stock))
		}
	}
	if len(badRank) > 0 {
		r.Violationf("winner ranks: %s", examples(badRank))
	}

	// Emails: exactly one per winner (and per loser when losers are mailed).
	dead := r.dlqDecisions(sn)
	var noMail, dupMail, wrongMail, unexpectedDLQ []string
	for _, e := range r.Participants {
		rows := sn.rows[e]
		mails := sn.mails[e]
		mailed := len(rows) > 0 && (rows[0].Status == "SUCCESS" || r.S.notifyLosers())
		switch {
		case !mailed && len(mails) > 0:
			wrongMail = append(wrongMail, fmt.Sprintf("%s (%s) got %d emails", e, statusOf(rows), len(mails)))
		case mailed && len(mails) == 0:
			if d, ok := dead[e]; ok {
				if r.Opts.Refused == nil || !r.Opts.Refused(e) {
					unexpectedDLQ = append(unexpectedDLQ, fmt.Sprintf("%s: %s", e, d.Reason))
				}
			} else {
				noMail = append(noMail, e)
			}
		case mailed && len(mails) > 1:
			res.DupEmails += len(mails) - 1
			ids := map[string]int{}
			for _, m := range mails {
				ids[m.MessageID]++
			}
			dupMail = append(dupMail, fmt.Sprintf("%s ×%d (distinct Message-IDs %d)", e, len(mails), len(ids)))
		}
	}
	res.DupEmails += len(wrongMail)
	if len(noMail) > 0 {
		r.Violationf("winners without a confirmation email (and not dead-lettered): %s", examples(noMail))
	}
	switch {
	case len(dupMail) > 0 && r.Opts.DuplicatesExpected != "":
		r.Notef("duplicate emails (target 0; %s): %s", r.Opts.DuplicatesExpected, examples(dupMail))
	case len(dupMail) > 0:
		r.Violationf("duplicate emails: %s", examples(dupMail))
	}
	if len(wrongMail) > 0 {
		r.Violationf("emails to participants who should get none: %s", examples(wrongMail))
	}
	if len(unexpectedDLQ) > 0 {
		r.Violationf("winners' emails dead-lettered though the address is deliverable: %s", examples(unexpectedDLQ))
	}

	// Nothing left unprocessed; every dead letter accounted for.
	if text, n := behind(sn.lags); n > 0 {
		r.Violationf("consumer lag did not return to 0: %s", text)
	}
	reasons := map[string]int{}
	for _, d := range sn.dlq {
		mine := strings.HasPrefix(strings.ToLower(d.Key), r.Prefix)
		who := "other"
		if mine {
			who = "this run"
		}
		reasons[fmt.Sprintf("%s [%s]: %s", d.Topic, who, genericReason(d.Reason))]++
		expected := r.Opts.DeadLetterExpected != nil && r.Opts.DeadLetterExpected(d)
		if mine && !expected && !strings.HasSuffix(d.Topic, kafka.DeadLetter(kafka.TopicDecisions)) {
			r.Violationf("a message of this run was dead-lettered on %s (from %s): %s", d.Topic, d.Source, d.Reason)
		}
	}
	for k, n := range reasons {
		r.Notef("dead-lettered %d× on %s", n, k)
	}
	if len(sn.unready) > 0 {
		r.Violationf("not healthy afterwards: %s", strings.Join(sn.unready, "; "))
	}
}

var (
	addrRe  = regexp.MustCompile(`[A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+`)
	msgIDRe = regexp.MustCompile(`[a-z]+\.[0-9a-f]{16,}`)
)

// genericReason removes addresses and ids from a dead-letter reason so equal
// reasons group together.
func genericReason(s string) string {
	s = addrRe.ReplaceAllString(s, "<addr>")
	s = msgIDRe.ReplaceAllString(s, "<id>")
	if len(s) > 240 {
		s = s[:240] + "…"
	}
	return s
}

func statusOf(rows []row) string {
	if len(rows) == 0 {
		return "no row"
	}
	return rows[0].Status
}

func (r *Run) checkEvent(ctx context.Context) {
	w, l, err := r.S.eventCounts(ctx)
	if err != nil {
		r.Violationf("read MySQL counts: %v", err)
		return
	}
	c, err := r.S.redisCounters(ctx)
	if err != nil {
		r.Violationf("read Redis counters: %v", err)
		return
	}
	total, err := r.S.totalStockMySQL(ctx)
	if err != nil {
		r.Violationf("read events.total_stock: %v", err)
		return
	}
	if w > c.Total {
		r.Violationf("oversold event-wide: %d SUCCESS rows in MySQL > total stock %d", w, c.Total)
	}
	if c.Winners != w || c.Losers != l {
		r.Violationf("Redis counters (winners %d, losers %d) differ from MySQL (SUCCESS %d, FAILURE %d)", c.Winners, c.Losers, w, l)
	}
	if c.Remaining != max(c.Total-c.Winners, 0) {
		r.Violationf("Redis remaining %d != total %d - winners %d", c.Remaining, c.Total, c.Winners)
	}
	if total != c.Total {
		r.Violationf("stock not persisted: events.total_stock %d in MySQL, %d in Redis", total, c.Total)
	}
	if c.Total != r.WinnersBefore+r.Stock {
		r.Violationf("total stock is %d, this run set %d: someone else changed the stock during the run (results unreliable; other tools must take the stack lock)", c.Total, r.WinnersBefore+r.Stock)
	}
}

// checkStatusSample asks GET /api/event/status for up to 20 accepted
// participants and compares with their decision.
func (r *Run) checkStatusSample(ctx context.Context, sn snapshot, acc answers) {
	var ids []int
	for i := range acc.accepted {
		ids = append(ids, i)
	}
	rand.Shuffle(len(ids), func(a, b int) { ids[a], ids[b] = ids[b], ids[a] })
	var bad []string
	for _, i := range ids[:min(len(ids), 20)] {
		e := r.Participants[i]
		tok, err := r.S.Minter.Mint(e, time.Now())
		if err != nil {
			continue
		}
		got, resp, err := r.S.API.Status(ctx, tok)
		if err != nil || resp.HTTPStatus != 200 {
			bad = append(bad, fmt.Sprintf("%s: status %d %v", e, resp.HTTPStatus, err))
			continue
		}
		want, _, _ := strings.Cut(sn.decisions[e], ":")
		if got != want {
			bad = append(bad, fmt.Sprintf("%s: status says %s, decision %s", e, got, want))
		}
	}
	if len(bad) > 0 {
		r.Violationf("status API disagrees with decisions: %s", examples(bad))
	}
}

// sampleInvariants checks, while a herd runs, what must hold at every
// moment and not only once everything settled: MySQL never holds more
// winners than the stock, no rank is stored twice, every rank is inside
// 1..total stock. (Redis and MySQL agree only once the herd settled: Redis decides
// before MySQL inserts, and the faults of some scenarios make Redis lose
// what the fence then repairs.) It returns the violations it saw.
func (r *Run) sampleInvariants(ctx context.Context) []string {
	var winners, distinct, minRank, maxRank, total int64
	err := r.S.DB.QueryRowContext(ctx,
		"SELECT COUNT(*), COUNT(DISTINCT `rank`), COALESCE(MIN(`rank`), 1), COALESCE(MAX(`rank`), 0) FROM applications WHERE event_id = ? AND status = 'SUCCESS'",
		r.S.EventID).Scan(&winners, &distinct, &minRank, &maxRank)
	if err != nil {
		return nil // MySQL may be the fault of this scenario
	}
	if err := r.S.DB.QueryRowContext(ctx, "SELECT total_stock FROM events WHERE id = ?", r.S.EventID).Scan(&total); err != nil {
		return nil
	}
	var out []string
	if winners > total {
		out = append(out, fmt.Sprintf("during the herd: %d SUCCESS rows > total stock %d", winners, total))
	}
	if distinct != winners {
		out = append(out, fmt.Sprintf("during the herd: %d SUCCESS rows hold only %d distinct ranks", winners, distinct))
	}
	if minRank < 1 {
		out = append(out, fmt.Sprintf("during the herd: rank %d stored, below 1", minRank))
	}
	if maxRank > total {
		out = append(out, fmt.Sprintf("during the herd: rank %d stored, above the total stock %d", maxRank, total))
	}
	return out
}

// sampleDuring runs sampleInvariants every interval until ctx ends and
// records each distinct violation once.
func (r *Run) sampleDuring(ctx context.Context, interval time.Duration) {
	seen := map[string]bool{}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, v := range r.sampleInvariants(ctx) {
				if !seen[v] {
					seen[v] = true
					r.Violationf("%s", v)
				}
			}
		}
	}
}
