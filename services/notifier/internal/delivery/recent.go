package delivery

import "sync"

// recentSends is a bounded set of message ids, the oldest forgotten first.
type recentSends struct {
	mu    sync.Mutex
	ids   map[string]struct{}
	order []string // ring of the ids in insertion order
	next  int
}

func newRecentSends(capacity int) *recentSends {
	return &recentSends{ids: make(map[string]struct{}, capacity), order: make([]string, capacity)}
}

func (r *recentSends) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[id]
	return ok
}

func (r *recentSends) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.ids[id]; ok {
		return
	}
	if old := r.order[r.next]; old != "" {
		delete(r.ids, old)
	}
	r.order[r.next] = id
	r.ids[id] = struct{}{}
	r.next = (r.next + 1) % len(r.order)
}
