// Package pkg is the root of Farewell's shared infrastructure module. It holds
// no business rules: only the plumbing every service uses (the service
// runtime, configuration, logging, HTTP server, Kafka, Redis, MySQL, SMTP and
// test infrastructure).
package pkg
