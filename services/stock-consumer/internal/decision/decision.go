// Package decision holds stock-consumer's rules: what an application is,
// what a decision is, and how a batch is split per event without changing
// the log order — and the service that runs decide → persist → publish
// through the small interfaces it defines (State, Repository, Announcer).
// It does no I/O itself.
package decision

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Status is the outcome of an application.
type Status string

// The two outcomes.
const (
	Success Status = "SUCCESS"
	Failure Status = "FAILURE"
)

// ErrNeedsRebuild means Redis lost the event's state, or part of it (its
// counters are behind MySQL's watermark), or it was restored under an older
// epoch: it must be rebuilt from MySQL before deciding.
var ErrNeedsRebuild = errors.New("event state missing or behind in redis")

// ErrFenced means a rebuild took a new epoch after the batch was decided:
// its decisions may be missing from the rebuilt state, so it is not
// persisted and is decided again.
var ErrFenced = errors.New("batch decided under an older rebuild epoch")

// ErrStateBehind means the batch's decisions contradict MySQL (a stored
// decision differs, or a rank is taken): Redis decided on a view older than
// the source of truth. The state is rebuilt and the batch decided again.
var ErrStateBehind = errors.New("redis decided on a view older than mysql")

// Watermark is what MySQL holds of an event, read before every batch: the
// rebuild epoch, and how many decisions and winners are persisted. Redis's
// counters can only be at or above it; below it, Redis lost something.
type Watermark struct {
	Epoch   int64
	Decided int64
	Winners int64
}

// Decided is a batch decided in Redis, with the epoch it was decided under.
type Decided struct {
	Epoch     int64
	Decisions []Decision
}

// ErrUnavailable marks a failure of a server being down (Redis, MySQL or
// Kafka not answering, failing over or overloaded); the adapters wrap such
// failures with it. The batch is then retried without bound, while any other
// failure (a value MySQL refuses, say) is retried a few times and isolated.
var ErrUnavailable = errors.New("server unavailable")

// Application is one admitted application, as read from Kafka.
type Application struct {
	EventID string
	// Email is the participant's identity, the key of the decision.
	Email string
	// Delivery is the address the participant typed, where the decision is
	// mailed; empty when it is Email or unknown (stranded admissions and
	// decisions rebuilt from MySQL carry none: the mail then goes to Email).
	Delivery      string
	ApplicationID string
	AppliedAt     time.Time
	// Partition and Offset are the message's place in the applications
	// topic (its place in line); Offset is -1 for an admission decided
	// without its message (stranded).
	Partition int32
	Offset    int64
	// Late marks an application decided again after its message was
	// dead-lettered (MySQL refused its row every time): Redis decided it
	// at its place, but it is persisted after the decisions behind it, so
	// the log records it as a late decision at its place (see
	// fairlog.KindLateDecision).
	Late bool
}

// Decision is the outcome for one application.
type Decision struct {
	Application
	Status Status
	// Rank is the 1-based winning position, 0 for Failure.
	Rank int64
	// New is false when the application had been decided before (a replay).
	New       bool
	DecidedAt time.Time
	// Stock is the stock the batch was decided under (winners before it
	// plus the stock remaining then); the decision log records it.
	Stock int64
	// Participant is the salted hash of the email the log records.
	Participant string
}

// ParseStored parses the stored form "SUCCESS:<rank>" or "FAILURE:0".
func ParseStored(s string) (Status, int64, error) {
	st, r, ok := strings.Cut(s, ":")
	if !ok {
		return "", 0, fmt.Errorf("stored decision %q: missing rank", s)
	}
	rank, err := strconv.ParseInt(r, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("stored decision %q: bad rank", s)
	}
	switch Status(st) {
	case Success:
		if rank < 1 {
			return "", 0, fmt.Errorf("stored decision %q: winner without rank", s)
		}
		return Success, rank, nil
	case Failure:
		return Failure, 0, nil
	default:
		return "", 0, fmt.Errorf("stored decision %q: unknown status", s)
	}
}

// EventBatch is the part of a batch that belongs to one event, in log order.
type EventBatch struct {
	EventID string
	Apps    []Application
}

// SplitByEvent groups apps per event, keeping the log order inside each
// event (the only order that matters for fairness) and the order in which
// events first appear.
func SplitByEvent(apps []Application) []EventBatch {
	index := map[string]int{}
	var out []EventBatch
	for _, a := range apps {
		i, ok := index[a.EventID]
		if !ok {
			i = len(out)
			index[a.EventID] = i
			out = append(out, EventBatch{EventID: a.EventID})
		}
		out[i].Apps = append(out[i].Apps, a)
	}
	return out
}

// Count counts winners and losers among ds, new or not.
func Count(ds []Decision) (winners, losers int64) {
	for _, d := range ds {
		if d.Status == Success {
			winners++
		} else {
			losers++
		}
	}
	return winners, losers
}

// Winners counts the Success decisions that were new in this batch.
func Winners(ds []Decision) (newWinners, newLosers int) {
	for _, d := range ds {
		if !d.New {
			continue
		}
		if d.Status == Success {
			newWinners++
		} else {
			newLosers++
		}
	}
	return newWinners, newLosers
}
