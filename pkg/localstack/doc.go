// Package localstack is the one definition of the local stack that `make run`
// starts: its components in start order with their ports and kernel command
// names, the files under .run/, the pid-file check that tells a live process
// of ours from a recycled pid, the readiness check of every component, the
// environment file with its generated secrets, the nginx values of the
// loopback stack, and the lock on .run/stack.lock that keeps supervisors,
// load runs, chaos runs and end-to-end tests from overlapping.
//
// The supervisor (tools/cmd/stack), the chaos and load tools, the
// end-to-end tests and pkg/testinfra all read these facts from here.
package localstack
