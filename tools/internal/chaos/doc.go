// Package chaos drives herds of synthetic participants at the running local
// stack (through nginx) while injecting faults into the processes the stack
// started — by their recorded pids, on loopback only — and then checks the
// guarantees of docs/design.md against the sources of truth: MySQL rows, Redis
// decisions and counters, Kafka consumer-group offsets and dead-letter
// topics, and Mailpit's mailbox.
//
// Every run holds an exclusive flock on .run/stack.lock for its whole
// duration, is bounded in requests and time, and restores the stack (every
// component running and ready) before it releases the lock. `make chaos`
// (tools/cmd/chaos) runs every scenario; TestChaosReduced runs a small
// subset inside `make test`. docs/chaos.md describes the scenarios and the
// invariants.
package chaos
