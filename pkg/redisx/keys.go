package redisx

import (
	"strconv"
	"time"
)

// EventKeys names the Redis keys of one event. The {event} hash tag keeps all
// of them in one cluster slot so Lua scripts may touch them together. This is
// the contract between apply-gateway (admission, admin) and stock-consumer
// (decisions, rebuild).
type EventKeys struct {
	// Total is the configured stock.
	Total string
	// Remaining is the stock still available to win.
	Remaining string
	// Winners and Losers count decisions.
	Winners string
	Losers  string
	// Decisions maps email to "SUCCESS:<rank>" or "FAILURE:0".
	Decisions string
	// DecidedAt maps a decided email to the decision's time in unix ms. It
	// is written with the decision (and restored from MySQL's decided_at);
	// only the winners export reads it, never the decision itself.
	DecidedAt string
	// Applied maps email to the admission marker "A:<unix ms>" (admitted,
	// publish in flight) or "P:<unix ms>" (published to Kafka).
	Applied string
	// SoldOut is "1" once no stock remains.
	SoldOut string
	// Window is a hash with opens_at and closes_at in unix ms (0: unbounded),
	// version, the number of the last window change, and applied, the
	// number of the change whose times the hash holds (lower than version
	// after an undo).
	Window string
	// State is "ready" once stock-consumer loaded the event from MySQL. When
	// it is missing, Redis lost the event (or it is new): admissions and
	// stock changes wait until stock-consumer restored it.
	State string
	// Unsettled is a sorted set of admitted emails (score: unix ms) whose
	// publish was not confirmed yet. stock-consumer decides entries left
	// there too long (a gateway crashed between admission and publish), so
	// nobody stays PENDING forever.
	Unsettled string
	// StockVersion counts stock changes; each change carries its number to
	// stock-consumer, which keeps the newest, so the order of changes made
	// through different gateways is Redis's order. Window changes are
	// counted the same way in Window's "version" field.
	StockVersion string
	// StockTotalVersion is the number of the stock change Total holds (the
	// last one committed live or persisted), so the gateways' commits,
	// stock-consumer's catch-up to MySQL and a rebuild never put an older
	// total over a newer one. Window's "applied" field does the same for
	// the window.
	StockTotalVersion string
	// StockPending holds the stock change whose publish is in flight,
	// "<version>:<new total>:<previous total>", with a TTL. While it exists
	// remaining counts the smaller of both totals and other stock changes wait.
	StockPending string
	// Epoch is the rebuild epoch the state was restored under (a copy of
	// MySQL's events.epoch). decide.lua returns it with every batch, and the
	// batch's MySQL insert is refused when MySQL's epoch moved on since.
	Epoch string
	// Rebuild is the epoch of the rebuild in progress, if any; only that
	// rebuild may finish (restore.lua), so an older one never overwrites it.
	Rebuild string
	// Log is a list of the decision log's lines (JSON), in order: a copy of
	// MySQL's decision_log that stock-consumer appends to (append_log.lua)
	// and apply-gateway streams. Redis losing it only delays it: it is
	// copied again from MySQL.
	Log string
	// Receipts maps email to the participant's signed receipt (JSON),
	// written by apply-gateway with the published marker; status shows it.
	Receipts string
	// EmailPolicy is the email policy auth pinned for the event (a string):
	// auth refuses to start with another one while Applied is not empty.
	EmailPolicy string
}

// ChangeMarkTTL is how long the outcome of one admin change is remembered
// (ChangeMark). It outlives the admin topic's retention (30 days), so a
// message can never reach stock-consumer after its change's mark expired.
const ChangeMarkTTL = 31 * 24 * time.Hour

// ChangeMark names the key that settles, atomically, a race between a
// gateway undoing admin change version of kind ("stock" or "window") after
// a failed publish and stock-consumer persisting it: it holds "undone"
// (stock-consumer then skips the message) or "applied" (the gateway then
// keeps the change and answers success). A rebuild never deletes it.
func ChangeMark(eventID, kind string, version int64) string {
	return "farewell:{" + eventID + "}:change:" + kind + ":" + strconv.FormatInt(version, 10)
}

// KeysFor returns the keys of eventID.
func KeysFor(eventID string) EventKeys {
	p := "farewell:{" + eventID + "}:"
	return EventKeys{
		Total:     p + "stock:total",
		Remaining: p + "stock:remaining",
		Winners:   p + "winners",
		Losers:    p + "losers",
		Decisions: p + "decisions",
		DecidedAt: p + "decided_at",
		Applied:   p + "applied",
		SoldOut:   p + "soldout",
		Window:    p + "window",
		State:     p + "state",
		Unsettled: p + "unsettled",

		StockVersion: p + "stock:version",
		StockPending: p + "stock:pending",
		Log:          p + "log",
		Receipts:     p + "receipts",
		EmailPolicy:  p + "email-policy",

		StockTotalVersion: p + "stock:total_version",
		Epoch:             p + "epoch",
		Rebuild:           p + "rebuild",
	}
}
