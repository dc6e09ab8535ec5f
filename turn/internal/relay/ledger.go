package relay

import (
	"net"
	"sync"
	"time"

	"github.com/hcw-home/hcw/contract/turncred"
)

// pendingTTL bounds how long a quota slot reserved for an Allocate request
// waits for the allocation to appear. pion may still refuse the request
// after the quota check (no relay port free), and then no event tells us.
const pendingTTL = 10 * time.Second

// ledger tracks live allocations from the server's EventHandler. Two
// decisions depend on it: an expired credential is still accepted from a
// client 5-tuple that already holds an allocation made with that exact
// username (so refreshes keep a long call alive), and the per-user quota.
type ledger struct {
	mu sync.Mutex
	// byTuple maps a client 5-tuple key to the username of its allocation.
	byTuple map[string]string
	// live counts allocations per credential user.
	live map[string]int
	// pending holds quota slots granted to Allocate requests whose
	// allocation has not been created yet, so concurrent requests from one
	// user (over several TCP connections) cannot all pass the check.
	pending map[string]pendingSlot
}

type pendingSlot struct {
	user string
	at   time.Time
}

func newLedger() *ledger {
	return &ledger{
		byTuple: make(map[string]string),
		live:    make(map[string]int),
		pending: make(map[string]pendingSlot),
	}
}

// tupleKey identifies the client side of a 5-tuple. The AuthHandler only
// sees the source address, so the key cannot include the listener; a
// collision needs the same remote address on two TCP listeners and the
// same username, which only its owner can present.
func tupleKey(src net.Addr) string {
	return src.Network() + "/" + src.String()
}

// userOf returns the user part of a TURN REST username.
func userOf(username string) string {
	_, user, err := turncred.Parse(username)
	if err != nil {
		return username
	}
	return user
}

// holds reports whether src holds an allocation made with username.
func (l *ledger) holds(src net.Addr, username string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	u, ok := l.byTuple[tupleKey(src)]
	return ok && u == username
}

// reserve grants src a quota slot for user unless user already holds quota
// allocations (live or pending).
func (l *ledger) reserve(src net.Addr, user string, quota int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.live[user]
	key := tupleKey(src)
	for k, p := range l.pending {
		switch {
		case now.Sub(p.at) > pendingTTL:
			delete(l.pending, k)
		case p.user == user && k != key:
			n++
		}
	}
	if n >= quota {
		return false
	}
	l.pending[key] = pendingSlot{user: user, at: now}
	return true
}

// created records a new allocation.
func (l *ledger) created(src net.Addr, username string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := tupleKey(src)
	delete(l.pending, key)
	l.byTuple[key] = username
	l.live[userOf(username)]++
}

// deleted forgets an allocation.
func (l *ledger) deleted(src net.Addr, username string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := tupleKey(src)
	if _, ok := l.byTuple[key]; !ok {
		return
	}
	delete(l.byTuple, key)
	user := userOf(username)
	if l.live[user] <= 1 {
		delete(l.live, user)
		return
	}
	l.live[user]--
}

// count returns the live allocations of user.
func (l *ledger) count(user string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live[user]
}
