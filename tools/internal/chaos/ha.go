package chaos

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/terning-farewell/farewell/pkg/kafka"
)

// The scenarios of this file need the HA topology (`make run-ha`): several
// Kafka brokers with replicated topics, a Redis replica and Sentinels. On
// the small one they fail at once with a clear message.

// haScenarios are the faults only the HA topology survives.
func haScenarios() []Scenario {
	return []Scenario{
		{"ha-leader-kill", "kill -9 the leader broker of the applications partition mid-herd; clients move to the new leader", haLeaderKill},
		{"ha-two-brokers", "kill -9 two of three brokers mid-herd: 503s, nothing acknowledged lost; recovery when one returns", haTwoBrokers},
		{"ha-redis-failover", "kill -9 the Redis primary mid-herd; Sentinel promotes the replica; the services follow", haRedisFailover},
	}
}

// needHA fails unless the running topology has replicated Kafka and Sentinel.
func (s *Stack) needHA() error {
	if len(s.Topology.Kafka) < 3 || len(s.Topology.SentinelPorts) == 0 {
		return fmt.Errorf("this scenario needs the HA topology (make run-ha); the %s one is running", s.Topology.Name)
	}
	return nil
}

// applicationsLeader returns the component name of the broker leading the
// applications partition 0.
func (s *Stack) applicationsLeader() (string, error) {
	client, err := s.newKafkaClient()
	if err != nil {
		return "", err
	}
	defer client.Close()
	if err := client.RefreshMetadata(kafka.TopicApplications); err != nil {
		return "", err
	}
	b, err := client.Leader(kafka.TopicApplications, 0)
	if err != nil {
		return "", err
	}
	_, portText, _ := net.SplitHostPort(b.Addr())
	port, _ := strconv.Atoi(portText)
	for _, n := range s.Topology.Kafka {
		if n.Port == port {
			return n.Name, nil
		}
	}
	return "", fmt.Errorf("leader %s is no broker of the topology", b.Addr())
}

// waitNewLeader waits until the applications partition has a leader other
// than old, and returns it.
func (s *Stack) waitNewLeader(ctx context.Context, old string, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for {
		leader, err := s.applicationsLeader()
		if err == nil && leader != old {
			return leader, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no new leader of %s after %s (last: %q, %v)", kafka.TopicApplications, d, leader, err)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return "", err
		}
	}
}

func haLeaderKill(ctx context.Context, s *Stack, z Size) (*Run, error) {
	if err := s.needHA(); err != nil {
		return nil, err
	}
	n := z.n(1500, 400)
	r, err := NewRun(ctx, s, "ha-leader-kill", n, int64(n/3), Options{SettleTimeout: 150 * time.Second})
	if err != nil {
		return nil, err
	}
	spread := z.d(16*time.Second, 8*time.Second)
	var down downWindow
	var killed string
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.OnceEach(), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := p.WaitElapsed(ctx, spread/4); err != nil {
				return err
			}
			leader, err := s.applicationsLeader()
			if err != nil {
				return err
			}
			if _, err := s.Signal(leader, syscall.SIGKILL, 10*time.Second); err != nil {
				return err
			}
			killed, down.from = leader, time.Now()
			r.Event("leader %s killed at %d/%d answers (%d accepted)", leader, p.Done(), p.Total(), p.Accepted())
			next, err := s.waitNewLeader(ctx, leader, 30*time.Second)
			if err != nil {
				r.Violationf("%v", err)
			} else {
				r.Event("new leader %s after %s", next, time.Since(down.from).Round(100*time.Millisecond))
				r.Notef("leader %s killed; %s led the applications partition %s later", leader, next, time.Since(down.from).Round(100*time.Millisecond))
			}
			accepted := p.Accepted()
			// Let the herd run on two brokers for a while.
			if err := sleep(ctx, spread/2); err != nil {
				return err
			}
			if p.Accepted() == accepted && p.Done() < p.Total() {
				r.Violationf("no 202 for %s after the leader moved: the clients did not follow it", spread/2)
			}
			down.to = time.Now()
			r.FaultUndone()
			if err := s.StartInfra(ctx, leader); err != nil {
				return err
			}
			return s.WaitReady(ctx, 150*time.Second)
		})
	judgeOutage(r, "broker "+killed, down, false)
	return r, err
}

func haTwoBrokers(ctx context.Context, s *Stack, z Size) (*Run, error) {
	if err := s.needHA(); err != nil {
		return nil, err
	}
	n := z.n(1200, 400)
	r, err := NewRun(ctx, s, "ha-two-brokers", n, int64(n/3), Options{SettleTimeout: 180 * time.Second})
	if err != nil {
		return nil, err
	}
	half := n / 2
	spread := z.d(12*time.Second, 6*time.Second)
	var down downWindow
	var killed []string
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.Range(0, half), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := p.WaitElapsed(ctx, spread/4); err != nil {
				return err
			}
			leader, err := s.applicationsLeader()
			if err != nil {
				return err
			}
			killed = append(killed, leader)
			for _, b := range s.Topology.Kafka {
				if b.Name != leader && len(killed) < 2 {
					killed = append(killed, b.Name)
				}
			}
			for _, name := range killed {
				if _, err := s.Signal(name, syscall.SIGKILL, 10*time.Second); err != nil {
					return err
				}
			}
			down.from = time.Now()
			r.Event("brokers %v killed at %d/%d answers: one of three left, below min.insync.replicas", killed, p.Done(), p.Total())
			if err := sleep(ctx, spread); err != nil {
				return err
			}
			down.to = time.Now()
			r.FaultUndone()
			// One returns: two of three brokers are a quorum and meet
			// min.insync.replicas again.
			if err := s.StartInfra(ctx, killed[1]); err != nil {
				return err
			}
			r.Event("%s is back", killed[1])
			return nil
		})
	judgeOutage(r, "two of three brokers", down, true)
	if err != nil {
		return r, err
	}
	// The other half applies with two brokers up, before the last returns.
	if err := r.Fire(ctx, HerdSpec{Phase: "one-returned", Order: r.Range(half, n), Concurrency: 128}, nil); err != nil {
		return r, err
	}
	if a := r.answers(); len(a.accepted) == 0 {
		r.Violationf("no 202 at all")
	}
	accepted := 0
	a := r.answers()
	for i := half; i < n; i++ {
		if a.accepted[i] > 0 || a.conflicts[i] {
			accepted++
		}
	}
	r.Notef("with one broker back (%s), %d of %d newcomers got a final answer (202 or 409)", killed[1], accepted, n-half)
	if accepted == 0 {
		r.Violationf("no final answer while two of three brokers ran: no recovery when one returned")
	}
	if err := s.StartInfra(ctx, killed[0]); err != nil {
		return r, err
	}
	return r, s.WaitReady(ctx, 150*time.Second)
}

// redisPrimaryByRole asks every Redis node but dead for its ROLE and
// returns the first that answers "master".
func (s *Stack) redisPrimaryByRole(ctx context.Context, dead string) (string, bool) {
	for _, n := range s.Topology.Redis {
		if n.Name == dead {
			continue
		}
		c := redis.NewClient(&redis.Options{Addr: n.Addr(), DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
		role, err := c.Do(ctx, "ROLE").Slice()
		_ = c.Close()
		if err == nil && len(role) > 0 && role[0] == "master" {
			return n.Name, true
		}
	}
	return "", false
}

// redisPrimary asks the Sentinels which Redis node is the primary now.
func (s *Stack) redisPrimary(ctx context.Context) (string, error) {
	var last error
	for _, addr := range s.Topology.SentinelAddrs() {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
		hp, err := sc.GetMasterAddrByName(ctx, s.Topology.SentinelMaster).Result()
		_ = sc.Close()
		if err != nil || len(hp) != 2 {
			last = err
			continue
		}
		port, _ := strconv.Atoi(hp[1])
		if node, ok := s.Topology.RedisNodeAt(port); ok {
			return node.Name, nil
		}
		return "", fmt.Errorf("sentinel %s names %v, no node of the topology", addr, hp)
	}
	return "", fmt.Errorf("no Sentinel answered: %v", last)
}

func haRedisFailover(ctx context.Context, s *Stack, z Size) (*Run, error) {
	if err := s.needHA(); err != nil {
		return nil, err
	}
	n := z.n(1500, 400)
	// No DuplicatesExpected: behind Sentinel every "sent" marker is on the
	// replica before the batch moves on (K10), so a failover mails nobody twice.
	r, err := NewRun(ctx, s, "ha-redis-failover", n, int64(n/3), Options{SettleTimeout: 150 * time.Second})
	if err != nil {
		return nil, err
	}
	spread := z.d(16*time.Second, 10*time.Second)
	var down downWindow
	var old string
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.OnceEach(), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := p.WaitElapsed(ctx, spread/4); err != nil {
				return err
			}
			primary, err := s.redisPrimary(ctx)
			if err != nil {
				return err
			}
			if _, err := s.Signal(primary, syscall.SIGKILL, 10*time.Second); err != nil {
				return err
			}
			old, down.from = primary, time.Now()
			r.Event("Redis primary %s killed at %d/%d answers", primary, p.Done(), p.Total())
			deadline := time.Now().Add(45 * time.Second)
			// The outage ends when a surviving node becomes primary. Sentinel
			// names it a little later (and the services may learn it first),
			// so the nodes are asked directly every 10 ms, and the window ends
			// where a probe last found none: at that probe's start, no node
			// could take writes yet.
			noPrimary := down.from
			for {
				probe := time.Now()
				if node, ok := s.redisPrimaryByRole(ctx, primary); !ok {
					noPrimary = probe
				} else if down.to.IsZero() {
					down.to = noPrimary
					r.Event("%s answers as primary; none did %s after the kill", node, down.to.Sub(down.from).Round(10*time.Millisecond))
				}
				now, err := s.redisPrimary(ctx)
				if err == nil && now != primary {
					if down.to.IsZero() {
						down.to = time.Now()
					}
					r.Event("Sentinel promoted %s after %s", now, down.to.Sub(down.from).Round(100*time.Millisecond))
					r.Notef("Sentinel promoted %s %s after the primary %s was killed", now, down.to.Sub(down.from).Round(100*time.Millisecond), primary)
					break
				}
				if time.Now().After(deadline) {
					down.to = time.Now()
					r.Violationf("Sentinel promoted no replica within 45s of killing %s", primary)
					break
				}
				if err := sleep(ctx, 10*time.Millisecond); err != nil {
					return err
				}
			}
			r.FaultUndone()
			// The old primary comes back as a replica of the new one.
			if err := sleep(ctx, 2*time.Second); err != nil {
				return err
			}
			if err := s.StartInfra(ctx, primary); err != nil {
				return err
			}
			return s.WaitReady(ctx, 120*time.Second)
		})
	judgeOutage(r, "the Redis primary "+old, down, true)
	return r, err
}
