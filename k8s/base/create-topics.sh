#!/usr/bin/env bash
# Creates every Farewell Kafka topic (the list in pkg/kafka/topics.go; a test in test/checks
# fails when this script differs from it) with kafka-topics.sh from the apache/kafka image;
# idempotent (--if-not-exists). Used by the kafka-topics Job (k8s/base/topics-job.yaml) and
# the kafka-topics service of docker-compose.yml.
#
# Environment: BOOTSTRAP (host:port), APPLICATION_PARTITIONS (default 1: global FCFS order),
# REPLICATION_FACTOR (default 1), MIN_INSYNC_REPLICAS (default 1).
set -euo pipefail

: "${BOOTSTRAP:?set BOOTSTRAP to the Kafka bootstrap address}"
partitions="${APPLICATION_PARTITIONS:-1}"
rf="${REPLICATION_FACTOR:-1}"
isr="${MIN_INSYNC_REPLICAS:-1}"
kafka_topics="${KAFKA_TOPICS_SH:-/opt/kafka/bin/kafka-topics.sh}"
hour=3600000 week=604800000 month=2592000000

create() { # create TOPIC PARTITIONS RETENTION_MS
	"$kafka_topics" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
		--topic "$1" --partitions "$2" --replication-factor "$rf" \
		--config retention.ms="$3" --config min.insync.replicas="$isr"
}

# Wait for the cluster (a Job may start before the brokers answer).
for i in $(seq 1 60); do
	"$kafka_topics" --bootstrap-server "$BOOTSTRAP" --list >/dev/null 2>&1 && break
	((i < 60)) || { echo "kafka at $BOOTSTRAP did not answer" >&2; exit 1; }
	sleep 2
done

create farewell.event.applications "$partitions" "$week"
create farewell.event.applications.dlq 1 "$week"
create farewell.event.decisions 6 "$week"
create farewell.event.decisions.dlq 1 "$week"
# Code requests carry a one-time code: keep them only briefly.
create farewell.auth.codes 6 "$hour"
create farewell.auth.codes.dlq 1 "$hour"
create farewell.event.admin 1 "$month"
create farewell.event.admin.dlq 1 "$month"

# The applications topic can gain partitions later, never lose them.
"$kafka_topics" --bootstrap-server "$BOOTSTRAP" --describe --topic farewell.event.applications
