# Farewell — `make` targets are the interface; CI (.ci/run) and the README call the same ones.
# `make` alone lists them.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

STACK := deploy/local/stack.sh

.PHONY: help run stop status logs infra test

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# ---- local stack (deploy/local/stack.sh; everything under .run/) ----

run: ## Start infra + all services natively on loopback (idempotent)
	@$(STACK) up

infra: ## Start only Redis, MariaDB, Kafka (+topics), Mailpit and nginx
	@$(STACK) infra

stop: ## Stop exactly the processes `make run` started
	@$(STACK) down

status: ## One line per component: name, pid, port, up/down
	@$(STACK) status

logs: ## Last 50 lines of every log; `make logs NAME=kafka` follows one
	@$(STACK) logs $(NAME)

# ---- checks ----

test: ## Placeholder: bring the stack up, then run the pkg tests with the race detector
	$(STACK) up
	go test -race ./pkg/...
