# Farewell — `make` targets are the interface; CI (.ci/run) and the README call the same ones.
# `make` alone lists them.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# The local stack's supervisor (tools/cmd/stack); `go build` runs every time and is a no-op
# (build cache) when nothing changed.
STACK := .run/bin/stack
# Every binary is built with the container image's settings (pkg/localstack/build.go; test/checks
# compares them with deploy/docker/Dockerfile), so all of them share one set of compiled packages.
GO_BUILD := CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags='-s -w'
GO_RUN := CGO_ENABLED=0 GOFLAGS=-buildvcs=false go run -trimpath

.PHONY: help run run-ha test-ha chaos-ha stop status logs infra restart test test-unit proto proto-check lint demo docker fuzz fuzz-short fuzz-api vuln

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# ---- local stack (tools/cmd/stack, defined by pkg/localstack; everything under .run/) ----

.PHONY: $(STACK)
$(STACK):
	@mkdir -p $(@D)
	@$(GO_BUILD) -o $@ ./tools/cmd/stack

run: $(STACK) ## Start infra + all services natively on loopback (idempotent: adopts what runs)
	@$(STACK) up

run-ha: $(STACK) ## The production shape: 3 Kafka brokers (replication 3), Redis primary + replica + 3 Sentinels, all services
	@$(STACK) up -topology ha

infra: $(STACK) ## Start only Redis, MariaDB, Kafka (+topics), Mailpit and nginx
	@$(STACK) infra

restart: $(STACK) ## Rebuild and restart only the services (infra keeps running)
	@$(STACK) restart

stop: $(STACK) ## Stop exactly the processes `make run` started (services first)
	@$(STACK) down

status: $(STACK) ## One line per component: name, pid, port, state
	@$(STACK) status

logs: $(STACK) ## Last 50 lines of every log; `make logs NAME=kafka` follows one (NAME=auth: every auth instance)
	@$(STACK) logs $(NAME)

# ---- checks ----

# Every Go module of the workspace, tested one by one (go test does not cross modules).
MODULES := pkg proto services/auth services/apply-gateway services/stock-consumer services/notifier tools test
# Every module's tests run with the race detector: one build configuration for all test
# binaries, so the packages they share compile once (the binaries share the other one).
GO_TEST_FLAGS ?= -race -count=1 -timeout 15m

# STACK_TOPOLOGY is the topology `make test` starts when nothing runs: the one last started (test-ha: ha).
STACK_TOPOLOGY ?= $(shell cat .run/topology 2>/dev/null || echo small)

test: $(STACK) ## Start the stack if needed, then run every unit, integration and end-to-end test
	@$(STACK) up -topology $(STACK_TOPOLOGY)
	@$(STACK) tools
	@$(MAKE) --no-print-directory proto-check
	@$(MAKE) --no-print-directory fuzz-short
	@failed=0; for m in $(MODULES); do \
		echo "==> go test $(GO_TEST_FLAGS) $$m"; \
		(cd $$m && FAREWELL_REQUIRE_TOOLS=1 go test $(GO_TEST_FLAGS) ./...) || failed=1; \
	done; exit $$failed

test-ha: ## make test against the HA topology (make run-ha)
	@$(MAKE) --no-print-directory test STACK_TOPOLOGY=ha

test-unit: ## Only the pure unit tests: no server needed (integration tests skip under -short)
	@failed=0; for m in $(MODULES); do \
		echo "==> go test -short $$m"; \
		(cd $$m && go test -short -count=1 ./...) || failed=1; \
	done; exit $$failed

proto: ## Regenerate the Go code for proto/farewell/v1/*.proto
	@scripts/proto.sh

proto-check: ## Fail when the committed generated code differs from the .proto files
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	scripts/proto.sh "$$tmp"; \
	if ! diff -ru "$$tmp/farewell/v1" proto/farewell/v1 --exclude='*.proto' --exclude='*_test.go' >"$$tmp/diff"; then \
		cat "$$tmp/diff"; echo "generated protobuf code is stale: run 'make proto' and commit"; exit 1; \
	fi; echo "proto: generated code matches the .proto files"

lint: ## gofmt, go vet and golangci-lint over every module
	@scripts/lint.sh $(MODULES)

vuln: ## govulncheck (pinned) over every module
	@scripts/vuln.sh $(MODULES)

# ---- fuzzing (docs/security.md) ----

FUZZTIME ?= 10s

fuzz: ## Every Go fuzz target for FUZZTIME (10s) each; prints the inputs tried
	@scripts/fuzz.sh $(FUZZTIME)

fuzz-short: ## Every Go fuzz target for 2,000 inputs each (part of make test)
	@scripts/fuzz.sh 2000x

fuzz-api: $(STACK) ## schemathesis against the running stack through nginx, 50 cases per operation and phase
	@$(STACK) up
	@cd test && FAREWELL_REQUIRE_TOOLS=1 FAREWELL_FUZZ_EXAMPLES=$${FAREWELL_FUZZ_EXAMPLES:-50} \
		go test -count=1 -v -timeout 30m -run '^TestSchemathesisFindsNothing$$' ./fuzzapi

docker: ## Build the four service images (needs a Docker engine)
	@deploy/docker/build.sh

demo: ## Against the running stack: a herd of synthetic participants and a report, then the verifier
	@$(GO_RUN) ./tools/cmd/demo $(ARGS)

.PHONY: verify
verify: ## The fairness verifier against the running stack's decision log (ARGS="-receipt receipt.json -save evidence/")
	@$(GO_RUN) ./tools/cmd/verify -url http://127.0.0.1:8080 $(ARGS)

.PHONY: bench
bench: ## Load runs (seed, herd, replica, kafka, auth, drain; each next to a bare handler) under .run/stack.lock; writes docs/benchmarks.md
	@$(GO_RUN) ./tools/cmd/bench $(ARGS)

.PHONY: replay
replay: ## Dead-letter topics: list them all; ARGS="-topic farewell.event.applications.dlq -key a@b.c" says what it would re-publish, add -execute to do it
	@$(GO_RUN) ./services/stock-consumer/cmd/stock-consumer replay $(ARGS)

.PHONY: chaos
chaos: ## Fault injection against the running stack, then invariant checks (ARGS="-scenario dup-storm,broker-outage"; -list)
	@$(GO_RUN) ./tools/cmd/chaos $(ARGS)

.PHONY: chaos-ha
chaos-ha: $(STACK) ## Start the HA topology if needed, then the HA fault scenarios (broker and Redis primary kills) and the reduced suite on it
	@$(STACK) up -topology ha
	@$(GO_RUN) ./tools/cmd/chaos -scenario ha $(ARGS)
