//go:build !fuzzing

package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/pkg/token"
	"github.com/terning-farewell/farewell/services/auth/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/auth/internal/codes"
	"github.com/terning-farewell/farewell/services/auth/internal/ports/httpapi"
)

// attacker hammers the auth API for one victim's address from one client:
// code requests and wrong guesses as fast as the API answers, until stop.
type attacker struct {
	client string // an IPv4 address, or an IPv6 /64 rotated through per request
	ipv6   bool
	issued atomic.Int64 // codes the API issued to this client
	seq    atomic.Int64
}

// address returns the next source address: an IPv6 attacker uses a new
// address of its /64 for every request.
func (a *attacker) address() string {
	if !a.ipv6 {
		return a.client
	}
	return fmt.Sprintf("%s%x", a.client, a.seq.Add(1))
}

func (a *attacker) run(t *testing.T, s *testAuth, victim string, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		r := s.postWithForwardedFor(t, sendPath, "127.0.0.1", a.address(), sendBody(victim))
		if r.status == http.StatusOK {
			a.issued.Add(1)
		}
		for range 3 {
			s.postWithForwardedFor(t, verifyPath, "127.0.0.1", a.address(), verifyBody(victim, "000000"))
		}
	}
}

// TestStrangersCannotLockAParticipantOut: three strangers who know the
// victim's address ask for codes and guess wrong at the full rate the API
// allows them, one of them from a whole IPv6 /64. The victim, from another
// client, still gets a code of their own and a token. The Retry-After
// answers they are given add up to at most ceil(k×H/G) per-address windows
// (k strangers, H codes per client per hour, G codes per address per
// window): by then the strangers' own quotas are spent. Wrong guesses from
// the strangers never burn the victim's code.
func TestStrangersCannotLockAParticipantOut(t *testing.T) {
	t.Parallel()
	o := defaults()
	o.cooldown = time.Second
	o.hourlyLimit = 2
	o.addressLimit = 4
	o.addressWindow = 2 * time.Second
	o.ipVerifyLimit = 1000
	o.ipLimit = 1000
	s := newTestAuth(t, o)
	victim := uniqueEmail()
	attackers := []*attacker{
		{client: uniqueIP()},
		{client: uniqueIP()},
		{client: fmt.Sprintf("2001:db8:%x:%x::", time.Now().UnixNano()&0xffff, time.Now().UnixNano()>>16&0xffff), ipv6: true},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range attackers {
		wg.Go(func() { a.run(t, s, victim, stop) })
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()

	// Let the strangers use up what they can first.
	deadline := time.Now().Add(30 * time.Second)
	for attackersIssued(attackers) < int64(o.addressLimit) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := attackersIssued(attackers); got < int64(o.addressLimit) {
		t.Fatalf("the strangers got only %d codes (%d, %d, %d); the attack is not running at full rate", got, attackers[0].issued.Load(), attackers[1].issued.Load(), attackers[2].issued.Load())
	}

	windows := (len(attackers)*o.hourlyLimit + o.addressLimit - 1) / o.addressLimit
	bound := time.Duration(windows)*o.addressWindow + o.cooldown + time.Second
	victimIP := uniqueIP()
	var waited time.Duration
	for i := 0; ; i++ {
		r := s.post(t, sendPath, victimIP, sendBody(victim))
		if r.status == http.StatusOK {
			break
		}
		r.expect(t, http.StatusTooManyRequests, httpserver.CodeTooManyRequests)
		secs, err := strconv.Atoi(r.retryAfter)
		if err != nil || secs < 1 {
			t.Fatalf("429 with Retry-After %q", r.retryAfter)
		}
		waited += time.Duration(secs) * time.Second
		if i > 20 || waited > bound {
			t.Fatalf("the victim was told to wait %s in %d answers, more than %d per-address windows (%s each)", waited, i+1, windows, o.addressWindow)
		}
		time.Sleep(time.Duration(secs) * time.Second)
	}
	// The victim reads their own mail: the code that came for their
	// request. Here: the one whose HMAC is stored for their client.
	stored := s.rdb.HGet(context.Background(), redisstore.CodeKey(victim, victimIP), "hmac").Val()
	code := ""
	for code == "" {
		m := s.nextCodeRequest(t, victim)
		if s.hasher.Sum(victim, m.GetCode()) == stored {
			code = m.GetCode()
		}
	}
	// The strangers keep guessing for a while: the victim's code survives.
	time.Sleep(500 * time.Millisecond)
	r := s.post(t, verifyPath, victimIP, verifyBody(victim, code))
	r.expect(t, http.StatusOK, httpserver.CodeOK)
	claims := tokenClaims(t, s, r)
	if claims.Email != victim {
		t.Fatalf("token subject %q, want %q", claims.Email, victim)
	}
	for _, a := range attackers {
		if n := a.issued.Load(); n > int64(o.hourlyLimit) {
			t.Fatalf("stranger %s got %d codes, more than the per-client quota %d", a.client, n, o.hourlyLimit)
		}
	}
}

func attackersIssued(as []*attacker) int64 {
	var n int64
	for _, a := range as {
		n += a.issued.Load()
	}
	return n
}

// TestWrongGuessesFromOtherClientsDoNotBurnTheCode: after the participant
// got a code, 30 wrong guesses from three other clients (five is the limit
// per code) leave it intact; the same five from the participant's own
// client burn it.
func TestWrongGuessesFromOtherClientsDoNotBurnTheCode(t *testing.T) {
	t.Parallel()
	s := newTestAuth(t, defaults())
	email, ip := uniqueEmail(), uniqueIP()
	s.post(t, sendPath, ip, sendBody(email)).expect(t, http.StatusOK, httpserver.CodeOK)
	code := s.nextCodeRequest(t, email).GetCode()
	for range 3 {
		stranger := uniqueIP()
		for range 10 {
			r := s.post(t, verifyPath, stranger, verifyBody(email, wrongCode(code)))
			if r.status != http.StatusBadRequest {
				t.Fatalf("a stranger's guess got %d %s, want 400 (no code for that client)", r.status, r.env.Code)
			}
		}
		// Not even the right code works from a client that did not ask.
		s.post(t, verifyPath, stranger, verifyBody(email, code)).expect(t, http.StatusBadRequest, httpapi.CodeInvalidVerificationCode)
	}
	if a := s.rdb.HGet(context.Background(), redisstore.CodeKey(email, ip), "attempts").Val(); a != "0" {
		t.Fatalf("the participant's code has %s attempts counted, want 0", a)
	}
	s.post(t, verifyPath, ip, verifyBody(email, code)).expect(t, http.StatusOK, httpserver.CodeOK)
}

// TestAnIPv6Slash64IsOneClient: addresses of one /64 share the per-client
// limit and the code; the next /64 is another client.
func TestAnIPv6Slash64IsOneClient(t *testing.T) {
	t.Parallel()
	o := defaults()
	o.ipLimit = 3
	s := newTestAuth(t, o)
	prefix := fmt.Sprintf("2001:db8:%x:%x:", time.Now().UnixNano()&0xffff, time.Now().UnixNano()>>16&0xffff)
	email := uniqueEmail()
	s.postWithForwardedFor(t, sendPath, "127.0.0.1", prefix+":1", sendBody(email)).expect(t, http.StatusOK, httpserver.CodeOK)
	code := s.nextCodeRequest(t, email).GetCode()
	for i := 2; i <= 3; i++ {
		r := s.postWithForwardedFor(t, sendPath, "127.0.0.1", fmt.Sprintf("%s%x:%x::%x", prefix, i, i, i), sendBody(uniqueEmail()))
		r.expect(t, http.StatusOK, httpserver.CodeOK)
		s.codes.next(t)
	}
	s.postWithForwardedFor(t, sendPath, "127.0.0.1", prefix+"ffff:ffff:ffff:ffff", sendBody(uniqueEmail())).
		expect(t, http.StatusTooManyRequests, httpserver.CodeTooManyRequests)
	// The code asked for from ...::1 verifies from another address of the /64.
	s.postWithForwardedFor(t, verifyPath, "127.0.0.1", prefix+"abcd::9", verifyBody(email, code)).expect(t, http.StatusOK, httpserver.CodeOK)
	next := fmt.Sprintf("2001:db8:%x:%x::1", time.Now().UnixNano()&0xffff, (time.Now().UnixNano()>>16&0xffff)^1)
	s.postWithForwardedFor(t, sendPath, "127.0.0.1", next, sendBody(uniqueEmail())).expect(t, http.StatusOK, httpserver.CodeOK)
}

// TestAliasesOfOneMailboxAreOneParticipant: under the default policy the
// Gmail dots, googlemail.com, "+tag" and case are one participant: one
// quota, one code, one token subject; mail goes to the address as typed.
// Under "exact", tags are distinct addresses.
func TestAliasesOfOneMailboxAreOneParticipant(t *testing.T) {
	t.Parallel()
	s := newTestAuth(t, defaults())
	base := strings.ReplaceAll(testinfra.UniqueName("gmailuser"), "-", "")
	identity := base + "@gmail.com"
	typed := "  " + base[:3] + "." + base[3:] + "+Farewell@GoogleMail.com "
	ip := uniqueIP()
	s.post(t, sendPath, ip, sendBody(typed)).expect(t, http.StatusOK, httpserver.CodeOK)
	m := s.nextCodeRequest(t, base[:3]+"."+base[3:]+"+Farewell@GoogleMail.com")
	// Another spelling of the same mailbox is inside the same cooldown.
	s.post(t, sendPath, ip, sendBody(identity)).expect(t, http.StatusTooManyRequests, httpserver.CodeTooManyRequests)
	// The code verifies under any spelling; the token names the identity
	// and keeps the typed address for mail.
	r := s.post(t, verifyPath, ip, verifyBody(base+"+other@gmail.com", m.GetCode()))
	r.expect(t, http.StatusOK, httpserver.CodeOK)
	claims := tokenClaims(t, s, r)
	if claims.Email != identity || claims.Delivery != base+"+other@gmail.com" {
		t.Fatalf("token = %+v, want subject %q and the typed address", claims, identity)
	}

	o := defaults()
	o.policy = codes.PolicyExact
	x := newTestAuth(t, o)
	email := uniqueEmail()
	tagged := "a+" + email
	x.post(t, sendPath, ip, sendBody(email)).expect(t, http.StatusOK, httpserver.CodeOK)
	x.nextCodeRequest(t, email)
	x.post(t, sendPath, ip, sendBody(tagged)).expect(t, http.StatusOK, httpserver.CodeOK)
	code := x.nextCodeRequest(t, tagged).GetCode()
	r = x.post(t, verifyPath, ip, verifyBody(tagged, code))
	r.expect(t, http.StatusOK, httpserver.CodeOK)
	if c := tokenClaims(t, x, r); c.Email != tagged {
		t.Fatalf("exact policy: subject %q, want %q", c.Email, tagged)
	}
}

// tokenClaims verifies the token of a successful verify answer.
func tokenClaims(t *testing.T, s *testAuth, r response) token.Claims {
	t.Helper()
	var result struct {
		TemporaryToken string `json:"temporaryToken"`
	}
	if err := json.Unmarshal(r.env.Result, &result); err != nil {
		t.Fatalf("result = %s", r.env.Result)
	}
	claims, err := s.codec.Verify(result.TemporaryToken)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	return claims
}
