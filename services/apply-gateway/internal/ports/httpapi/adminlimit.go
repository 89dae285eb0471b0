package httpapi

import (
	"sync"
	"time"
)

// Defaults of the admin failure limiter.
const (
	// DefaultAdminFailures is how many wrong admin keys one client may send
	// per window before every admin request it makes is refused with 429.
	DefaultAdminFailures = 10
	// DefaultAdminFailureWindow is the fixed window the failures are counted in.
	DefaultAdminFailureWindow = time.Minute
	// defaultAdminClients bounds the memory of the limiter (about 100 bytes
	// per client).
	defaultAdminClients = 10_000
)

// failureLimiter counts failed admin authentications per client in a fixed
// window, in process and bounded in memory. It exists to slow down guessing
// of the admin key (which is long and random, so guessing is hopeless
// anyway) and to make guessing visible; it is one layer behind nginx's
// allow-list for /api/admin/.
//
// Why in process and not in Redis: admin traffic is a handful of requests,
// the limiter must keep working when Redis is slow or down (that is when an
// operator needs the admin API most), and a Redis round trip only on the
// failure path would make a wrong key measurably slower than a right one.
// The price: each replica counts on its own, so N replicas allow N times the
// limit, and a restart forgets the counts.
type failureLimiter struct {
	max      int
	window   time.Duration
	capacity int
	now      func() time.Time

	mu        sync.Mutex
	clients   map[string]*failureWindow
	nextSweep time.Time
}

type failureWindow struct {
	start    time.Time
	failures int
}

func newFailureLimiter(max int, window time.Duration, capacity int, now func() time.Time) *failureLimiter {
	if now == nil {
		now = time.Now
	}
	return &failureLimiter{max: max, window: window, capacity: capacity, now: now, clients: make(map[string]*failureWindow)}
}

// attempt records one admin authentication of client, failed or not, and
// reports whether the client used up its failures in the current window
// (then wait is how long until the window ends) and how many failures it
// has now. A blocked client is refused whatever it sent: otherwise a 429
// would only mean "wrong key" and the guessing would go on. Right and wrong
// keys take the same lock and the same lookup, so the limiter adds no
// measurable difference between them.
//
// When the table is full of clients still inside their window it does not
// grow, and a new client's failure goes unrecorded: memory stays bounded and
// the clients already counted keep their counts. (A guesser spread over
// more addresses than the table holds is not slowed down here; the admin
// allow-list in nginx is the defence against that.)
func (l *failureLimiter) attempt(client string, failed bool) (wait time.Duration, blocked bool, failures int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.clients[client]
	if ok && !now.Before(w.start.Add(l.window)) {
		delete(l.clients, client)
		w, ok = nil, false
	}
	if ok && w.failures >= l.max {
		return w.start.Add(l.window).Sub(now), true, w.failures
	}
	if !failed {
		return 0, false, 0
	}
	if !ok {
		if len(l.clients) >= l.capacity {
			l.sweep(now)
		}
		if len(l.clients) >= l.capacity {
			return 0, false, 0
		}
		w = &failureWindow{start: now}
		l.clients[client] = w
	}
	w.failures++
	return 0, false, w.failures
}

// sweep drops the windows that ended; at most once per second, so a full
// table does not make every failure walk the whole map.
func (l *failureLimiter) sweep(now time.Time) {
	if now.Before(l.nextSweep) {
		return
	}
	l.nextSweep = now.Add(time.Second)
	for c, w := range l.clients {
		if !now.Before(w.start.Add(l.window)) {
			delete(l.clients, c)
		}
	}
}

// size is the number of clients tracked (tests).
func (l *failureLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
