#!/usr/bin/env bash
# Farewell local stack: real Redis, MariaDB, Kafka (KRaft), Mailpit and nginx, then the
# four services, all run natively on loopback with every file under .run/ at the repo root.
#
#   stack.sh up         infra, then build and start the services (idempotent)
#   stack.sh infra      redis, mariadb, kafka, topics, mailpit, nginx only
#   stack.sh services   build and start the services (infra must be up)
#   stack.sh restart    rebuild and restart only the services (infra keeps running)
#   stack.sh down       stop exactly the processes this script recorded (services first)
#   stack.sh status     one line per component: name, pid, port, up/down
#   stack.sh logs [N]   last 50 lines of every log, or follow the logs of N (e.g. kafka, auth)
#   stack.sh tools      install the tools only the tests need (promtool, chromium, CJK fonts)
#
# Ports are fixed (docs/design.md): nginx 8080, Redis 6379, MariaDB 3306, Kafka 9092 (controller
# 9093), Mailpit SMTP 1025 / UI 8025, services 8081-8086.
# Tunables (environment): FAREWELL_READY_TIMEOUT (s, default 90), FAREWELL_KAFKA_VERSION.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN="$ROOT/.run"
LOGS="$RUN/logs"
PIDS="$RUN/pids"
BIN="$RUN/bin"
ENV_FILE="$RUN/farewell.env"
# mariadbd, nginx and mariadb-install-db live in sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

READY_TIMEOUT="${FAREWELL_READY_TIMEOUT:-90}"
KAFKA_VERSION="${FAREWELL_KAFKA_VERSION:-4.4.0}"
KAFKA_FALLBACK_VERSION="4.3.1"
MAILPIT_MODULE="github.com/axllent/mailpit"
MAILPIT_VERSION="v1.33.1"
MAILPIT_FALLBACK_VERSION="v1.27.11"

REDIS_PORT=6379
MARIADB_PORT=3306
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093
SMTP_PORT=1025
MAILPIT_PORT=8025
NGINX_PORT=8080

# Start order; down stops in reverse.
INFRA=(redis mariadb kafka mailpit nginx)
# instance:port; the service name is the instance without its -N suffix.
SERVICE_INSTANCES=(auth-1:8081 auth-2:8082 apply-gateway-1:8083 apply-gateway-2:8084
	stock-consumer-1:8085 notifier-1:8086)

# ---------------------------------------------------------------------------- output

info() { printf '%s\n' "$*"; }
warn() { printf 'WARN  %s\n' "$*" >&2; }
die() {
	printf 'ERROR %s\n' "$*" >&2
	exit 1
}
now_ms() { date +%s%3N; }
since() { # since START_MS -> "1.2s"
	local ms=$(($(now_ms) - $1))
	printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}
ready_line() { # ready_line NAME START_MS DETAIL
	printf '  %-20s ready in %6s  %s\n' "$1" "$(since "$2")" "$3"
}

# ---------------------------------------------------------------------------- processes

pid_file() { printf '%s/%s.pid' "$PIDS" "$1"; }

recorded_pid() {
	local f
	f="$(pid_file "$1")"
	[[ -s "$f" ]] && tr -dc '0-9' <"$f"
	return 0
}

# comm_of NAME: the kernel's command name of the component's process, used so a recycled
# pid that now belongs to another program is never taken for ours (or killed).
comm_of() {
	case "$1" in
	redis) echo redis-server ;;
	mariadb) echo mariadbd ;;
	kafka) echo java ;;
	mailpit) echo mailpit ;;
	nginx) echo nginx ;;
	*) echo "${1%-[0-9]*}" ;; # auth-1 -> auth
	esac
}

# running_pid NAME: prints the recorded pid if that process is alive and is ours.
running_pid() {
	local pid state
	pid="$(recorded_pid "$1")"
	[[ -n "$pid" && -r "/proc/$pid/comm" ]] || return 1
	[[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$(comm_of "$1")" ]] || return 1
	state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)"
	[[ "$state" != Z ]] || return 1
	echo "$pid"
}

# start_bg NAME LOG CMD...: runs CMD in its own session (immune to the caller's Ctrl-C and
# hang-up), output appended to LOG, and records its pid. No descriptor of ours or of the
# caller is inherited: fd 9 is our lock, and a caller such as `flock .run/stack.lock
# stack.sh restart` would otherwise leave its lock held by the daemons for as long as they run.
start_bg() {
	local name="$1" log="$2"
	shift 2
	printf '\n===== %s start %s =====\n' "$name" "$(date -Is)" >>"$log"
	(
		close_inherited_fds
		exec setsid "$@" >>"$log" 2>&1 </dev/null
	) &
	echo $! >"$(pid_file "$name")"
}

# close_inherited_fds: closes every descriptor above 2 of the current (sub)shell.
close_inherited_fds() {
	local fd
	for fd in /proc/"$BASHPID"/fd/*; do
		fd="${fd##*/}"
		if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
	done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# port_holder PORT: who listens on PORT, for error messages.
port_holder() {
	local who=""
	if command -v ss >/dev/null 2>&1; then
		who="$(ss -H -ltnp "sport = :$1" 2>/dev/null | grep -o 'users:(([^)]*))' | head -n1 || true)"
	fi
	echo "${who:-an unknown process}"
}

# refuse_busy_port NAME PORT: a port held by something we did not start is a clear error.
refuse_busy_port() {
	port_open "$2" || return 0
	local hint="stop that process"
	case "$1" in
	redis) hint="stop it (the Debian service: 'service redis-server stop' or 'systemctl disable --now redis-server')" ;;
	mariadb) hint="stop it (the Debian service: 'service mariadb stop' or 'systemctl disable --now mariadb')" ;;
	nginx) hint="stop it (the Debian service: 'service nginx stop' or 'systemctl disable --now nginx')" ;;
	esac
	die "$1: port $2 is already in use by $(port_holder "$2"), which this script did not start.
      $hint, then run again."
}

show_log_tail() { # show_log_tail LOG
	printf '  ---- last 20 lines of %s ----\n' "$1" >&2
	tail -n 20 "$1" 2>/dev/null | sed 's/^/  | /' >&2 || true
	printf '  ---- full log: %s\n' "$1" >&2
}

# wait_ready NAME LOG CHECK...: polls CHECK until it succeeds, the process dies or the
# timeout passes; the two failures print the end of the log.
wait_ready() {
	local name="$1" log="$2" deadline
	shift 2
	deadline=$(($(date +%s) + READY_TIMEOUT))
	until "$@" >/dev/null 2>&1; do
		if ! running_pid "$name" >/dev/null; then
			show_log_tail "$log"
			die "$name exited during start-up (see $log)"
		fi
		if (($(date +%s) >= deadline)); then
			show_log_tail "$log"
			die "$name not ready after ${READY_TIMEOUT}s (raise FAREWELL_READY_TIMEOUT or see $log)"
		fi
		sleep 0.2
	done
}

# stop_component NAME: SIGTERM the recorded pid, SIGKILL after 15 s, forget it.
stop_component() {
	local name="$1" pid i
	if ! pid="$(running_pid "$name")"; then
		if [[ -e "$(pid_file "$name")" ]]; then
			info "  $(printf '%-20s' "$name") not running (stale pid file removed)"
			rm -f "$(pid_file "$name")"
		fi
		return 0
	fi
	local start
	start="$(now_ms)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		running_pid "$name" >/dev/null || break
		sleep 0.1
	done
	if running_pid "$name" >/dev/null; then
		warn "$name (pid $pid) ignored SIGTERM for 15s: sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.2
	fi
	rm -f "$(pid_file "$name")"
	printf '  %-20s stopped in %6s  (pid %s)\n' "$name" "$(since "$start")" "$pid"
}

# ---------------------------------------------------------------------------- prerequisites

# Binaries the stack needs and the Debian package that provides each.
PREREQS=(
	redis-server:redis-server redis-cli:redis-tools
	mariadbd:mariadb-server mariadb-install-db:mariadb-server mariadb:mariadb-client
	nginx:nginx curl:curl envsubst:gettext-base protoc:protobuf-compiler
	mvn:maven java:openjdk-17-jre-headless ss:iproute2 setsid:util-linux flock:util-linux
)

ensure_prerequisites() {
	local start missing=() entry pkg
	start="$(now_ms)"
	for entry in "${PREREQS[@]}"; do
		command -v "${entry%%:*}" >/dev/null 2>&1 && continue
		pkg="${entry#*:}"
		[[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
	done
	if ((${#missing[@]} > 0)); then
		install_packages "${missing[@]}"
		ready_line packages "$start" "installed: ${missing[*]}"
	fi
	command -v go >/dev/null 2>&1 ||
		die "Go is missing: install Go 1.26+ from https://go.dev/dl and put it on PATH"
	check_java
}

install_packages() {
	local pkgs=("$@") guard=""
	if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		die "missing packages. Install them, then run again:
      sudo apt-get update && sudo apt-get install -y --no-install-recommends ${pkgs[*]}"
	fi
	info "  installing: ${pkgs[*]} (apt-get)"
	# Keep apt from starting the system redis/mariadb/nginx services on the ports we use.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		guard=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# added by farewell deploy/local/stack.sh during apt-get install\nexit 101\n' >"$guard"
		chmod 755 "$guard"
	fi
	local rc=0
	{
		DEBIAN_FRONTEND=noninteractive apt-get update -q &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
	} >>"$LOGS/apt.log" 2>&1 || rc=$?
	[[ -z "$guard" ]] || rm -f "$guard"
	if ((rc != 0)); then
		show_log_tail "$LOGS/apt.log"
		die "apt-get install ${pkgs[*]} failed (see $LOGS/apt.log)"
	fi
}

check_java() {
	local version major
	version="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
	major="${version%%.*}"
	if [[ ! "$major" =~ ^[0-9]+$ ]] || ((major < 17)); then
		die "Kafka 4 needs Java 17+, found '${version:-none}': apt-get install openjdk-17-jre-headless (or put a newer java first on PATH)"
	fi
}

# ---------------------------------------------------------------------------- environment

random_b64() { head -c "$1" /dev/urandom | base64 -w0; }
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# ensure_env_file: written once; secrets stay stable across runs so tokens keep working.
ensure_env_file() {
	[[ -s "$ENV_FILE" ]] && return 0
	(
		umask 077
		cat >"$ENV_FILE" <<EOF
# Farewell local stack environment, generated by deploy/local/stack.sh on $(date -Is).
# Kept across runs; delete it to rotate the secrets. Load it with: set -a; . $ENV_FILE; set +a
FAREWELL_REDIS_ADDR='127.0.0.1:$REDIS_PORT'
FAREWELL_KAFKA_BROKERS='127.0.0.1:$KAFKA_PORT'
FAREWELL_MYSQL_DSN='farewell:farewell@tcp(127.0.0.1:$MARIADB_PORT)/farewell?parseTime=true&multiStatements=true'
FAREWELL_SMTP_HOST='127.0.0.1'
FAREWELL_SMTP_PORT='$SMTP_PORT'
FAREWELL_SMTP_TLS='none'
FAREWELL_MAIL_FROM='no-reply@farewell.local'
FAREWELL_EVENT_ID='final-gift'
FAREWELL_JWT_SECRET='$(random_b64 48)'
FAREWELL_JWT_KID='local-1'
FAREWELL_CODE_SECRET='$(random_b64 32)'
FAREWELL_ADMIN_KEY='$(random_hex 16)'
FAREWELL_LOG_LEVEL='info'
EOF
	)
	info "  generated $ENV_FILE"
}

load_env() {
	set -a
	# shellcheck disable=SC1090
	. "$ENV_FILE"
	set +a
}

# ---------------------------------------------------------------------------- components

# ensure_component NAME PORT START_FN READY_FN DETAIL: leaves a live, ready component
# alone, refuses a port held by a stranger, otherwise starts it and waits until ready.
ensure_component() {
	local name="$1" port="$2" start_fn="$3" ready_fn="$4" detail="$5" pid start
	start="$(now_ms)"
	local log="$LOGS/$name.log"
	if pid="$(running_pid "$name")"; then
		wait_ready "$name" "$log" "$ready_fn"
		printf '  %-20s already running   pid %-7s %s\n' "$name" "$pid" "$detail"
		return 0
	fi
	rm -f "$(pid_file "$name")"
	refuse_busy_port "$name" "$port"
	"$start_fn"
	wait_ready "$name" "$log" "$ready_fn"
	ready_line "$name" "$start" "pid $(recorded_pid "$name")  $detail"
}

# --- redis

start_redis() {
	mkdir -p "$RUN/redis"
	cat >"$RUN/redis/redis.conf" <<EOF
# generated by deploy/local/stack.sh
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize no
dir $RUN/redis
appendonly yes
appendfsync everysec
logfile ""
maxclients 10000
tcp-backlog 511
EOF
	start_bg redis "$LOGS/redis.log" redis-server "$RUN/redis/redis.conf"
}

redis_ready() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

# --- mariadb

MARIADB_CNF="$RUN/mariadb/my.cnf"
MARIADB_SOCK="$RUN/mariadb/mariadb.sock"

write_mariadb_cnf() {
	mkdir -p "$RUN/mariadb/data" "$RUN/mariadb/tmp"
	cat >"$MARIADB_CNF" <<EOF
# generated by deploy/local/stack.sh
[mariadbd]
user = $(id -un)
datadir = $RUN/mariadb/data
tmpdir = $RUN/mariadb/tmp
socket = $MARIADB_SOCK
pid-file = $RUN/mariadb/mariadbd.pid
port = $MARIADB_PORT
bind-address = 127.0.0.1
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
max_connections = 500
innodb_buffer_pool_size = 256M
innodb_flush_log_at_trx_commit = 1

[client]
socket = $MARIADB_SOCK
EOF
}

start_mariadb() {
	write_mariadb_cnf
	if [[ ! -d "$RUN/mariadb/data/mysql" ]]; then
		info "  mariadb: initialising $RUN/mariadb/data (mariadb-install-db)"
		mariadb-install-db --defaults-file="$MARIADB_CNF" --user="$(id -un)" \
			--auth-root-authentication-method=socket --skip-test-db \
			>>"$LOGS/mariadb.log" 2>&1 ||
			{
				show_log_tail "$LOGS/mariadb.log"
				die "mariadb-install-db failed; remove $RUN/mariadb and run again"
			}
	fi
	start_bg mariadb "$LOGS/mariadb.log" mariadbd --defaults-file="$MARIADB_CNF"
}

mariadb_root() { mariadb --no-defaults --protocol=socket --socket="$MARIADB_SOCK" -u "$(id -un)" "$@"; }

mariadb_ready() { mariadb_root -e 'SELECT 1' >/dev/null 2>&1; }

# bootstrap_mariadb: database and user, safe to repeat. ALL ON *.* because tests create
# their own databases.
bootstrap_mariadb() {
	mariadb_root <<'SQL' || die "mariadb: could not create the farewell database/user (see $LOGS/mariadb.log)"
CREATE DATABASE IF NOT EXISTS farewell CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'farewell'@'127.0.0.1' IDENTIFIED BY 'farewell';
CREATE USER IF NOT EXISTS 'farewell'@'localhost' IDENTIFIED BY 'farewell';
GRANT ALL PRIVILEGES ON *.* TO 'farewell'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'farewell'@'localhost';
DROP USER IF EXISTS ''@'localhost';
FLUSH PRIVILEGES;
SQL
}

# --- kafka

KAFKA_DIR="$RUN/kafka"

# resolve_kafka: the broker's jars from Maven Central (cached in ~/.m2) into .run/kafka/libs.
resolve_kafka() {
	local v
	compgen -G "$KAFKA_DIR/libs/kafka_2.13-*.jar" >/dev/null && return 0
	local start
	start="$(now_ms)"
	for v in "$KAFKA_VERSION" "$KAFKA_FALLBACK_VERSION"; do
		rm -rf "$KAFKA_DIR/libs"
		if mvn -q -B -f "$ROOT/deploy/kafka/pom.xml" -Dkafka.version="$v" \
			dependency:copy-dependencies -DincludeScope=runtime \
			-DoutputDirectory="$KAFKA_DIR/libs" >>"$LOGS/kafka-resolve.log" 2>&1; then
			ready_line kafka-jars "$start" "org.apache.kafka:kafka_2.13:$v -> $KAFKA_DIR/libs"
			return 0
		fi
		warn "kafka: could not resolve kafka_2.13:$v from Maven Central (see $LOGS/kafka-resolve.log)"
	done
	show_log_tail "$LOGS/kafka-resolve.log"
	die "kafka: no Kafka release resolved; check that Maven Central is reachable (mvn) and run again"
}

# The broker's JVM: the same main classes the distribution's scripts run, modest heap.
KAFKA_JAVA=(java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
	-Djava.awt.headless=true
	-Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.properties"
	-Dkafka.logs.dir="$KAFKA_DIR/logs"
	-cp "$KAFKA_DIR/libs/*")

write_kafka_properties() {
	mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
	cat >"$KAFKA_DIR/server.properties" <<EOF
# generated by deploy/local/stack.sh: one KRaft node that is broker and controller
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
}

start_kafka() {
	resolve_kafka
	refuse_busy_port kafka-controller "$KAFKA_CONTROLLER_PORT"
	write_kafka_properties
	if [[ ! -s "$KAFKA_DIR/data/meta.properties" ]]; then
		[[ -s "$KAFKA_DIR/cluster-id" ]] ||
			"${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid 2>>"$LOGS/kafka.log" | tail -n1 >"$KAFKA_DIR/cluster-id"
		"${KAFKA_JAVA[@]}" kafka.tools.StorageTool format --standalone -t "$(cat "$KAFKA_DIR/cluster-id")" \
			-c "$KAFKA_DIR/server.properties" >>"$LOGS/kafka-format.log" 2>&1 ||
			{
				show_log_tail "$LOGS/kafka-format.log"
				die "kafka: storage format failed; remove $KAFKA_DIR/data and run again"
			}
	fi
	start_bg kafka "$LOGS/kafka.log" "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_DIR/server.properties"
}

kafka_ready() { port_open "$KAFKA_PORT"; }

# ensure_topics: every topic of pkg/kafka.Topics, via tools/cmd/topics (idempotent).
ensure_topics() {
	local start out
	start="$(now_ms)"
	build_topics_tool
	out="$(
		load_env
		"$BIN/topics" -timeout "${READY_TIMEOUT}s" 2>&1
	)" || {
		printf '%s\n' "$out" >&2
		show_log_tail "$LOGS/kafka.log"
		die "kafka: topic creation failed (broker log: $LOGS/kafka.log)"
	}
	printf '%s\n' "$out" >"$LOGS/topics.log"
	local created existing
	created="$(grep -c '^created' <<<"$out" || true)"
	existing="$(grep -c '^exists' <<<"$out" || true)"
	ready_line topics "$start" "$created created, $existing already there (list: $LOGS/topics.log)"
}

build_topics_tool() {
	# The workspace build is the normal path; GOWORK=off covers a workspace in which some
	# other module is still half-written.
	(cd "$ROOT" && go build -o "$BIN/topics" ./tools/cmd/topics) >>"$LOGS/build.log" 2>&1 && return 0
	(cd "$ROOT/tools" && GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=mod" go build -o "$BIN/topics" ./cmd/topics) \
		>>"$LOGS/build.log" 2>&1 && return 0
	show_log_tail "$LOGS/build.log"
	die "could not build tools/cmd/topics (see $LOGS/build.log)"
}

# --- mailpit

install_mailpit() {
	[[ -x "$BIN/mailpit" ]] && return 0
	local start v
	start="$(now_ms)"
	for v in "$MAILPIT_VERSION" "$MAILPIT_FALLBACK_VERSION"; do
		if (cd "$RUN" && GOWORK=off GOBIN="$BIN" go install -ldflags "-s -w -X $MAILPIT_MODULE/config.Version=$v" "$MAILPIT_MODULE@$v") >>"$LOGS/build.log" 2>&1; then
			ready_line mailpit-build "$start" "$MAILPIT_MODULE@$v -> $BIN/mailpit"
			return 0
		fi
		warn "mailpit: go install $MAILPIT_MODULE@$v failed (see $LOGS/build.log)"
	done
	die "mailpit: could not be installed from the Go module proxy (see $LOGS/build.log)"
}

start_mailpit() {
	install_mailpit
	refuse_busy_port mailpit-smtp "$SMTP_PORT"
	mkdir -p "$RUN/mailpit"
	start_bg mailpit "$LOGS/mailpit.log" "$BIN/mailpit" \
		--listen "127.0.0.1:$MAILPIT_PORT" --smtp "127.0.0.1:$SMTP_PORT" \
		--database "$RUN/mailpit/mailpit.db" --max 0 \
		--smtp-auth-accept-any --smtp-auth-allow-insecure --disable-version-check
}

mailpit_ready() { curl -fsS -o /dev/null "http://127.0.0.1:$MAILPIT_PORT/api/v1/info"; }

# --- nginx

NGINX_DIR="$RUN/nginx"
NGINX_CONF="$NGINX_DIR/nginx.conf"

# render_nginx OUT: deploy/nginx/farewell.conf.template with the local values. The rate
# limits are far above anything a load test from 127.0.0.1 sends, so the services' own
# limits are what tests see; production renders small per-client rates.
render_nginx() {
	local servers_auth="" servers_gateway="" entry port
	for entry in "${SERVICE_INSTANCES[@]}"; do
		port="${entry#*:}"
		case "$entry" in
		auth-*) servers_auth+="server 127.0.0.1:$port max_fails=2 fail_timeout=2s; " ;;
		apply-gateway-*) servers_gateway+="server 127.0.0.1:$port max_fails=2 fail_timeout=2s; " ;;
		esac
	done
	(
		export NGINX_WORKER_CONNECTIONS=8192
		export NGINX_PID="$NGINX_DIR/nginx.pid"
		export NGINX_ERROR_LOG="$LOGS/nginx-error.log"
		export NGINX_ACCESS_LOG="$LOGS/nginx-access.log"
		export NGINX_TEMP_DIR="$NGINX_DIR/tmp"
		export NGINX_LISTEN="127.0.0.1:$NGINX_PORT"
		export NGINX_REAL_IP_FROM="set_real_ip_from 127.0.0.1;"
		export NGINX_AUTH_SERVERS="$servers_auth"
		export NGINX_GATEWAY_SERVERS="$servers_gateway"
		export NGINX_AUTH_RATE=50000r/s NGINX_AUTH_BURST=50000
		export NGINX_APPLY_RATE=50000r/s NGINX_APPLY_BURST=50000
		export NGINX_API_RATE=50000r/s NGINX_API_BURST=50000
		export NGINX_ADMIN_ACCESS="allow 127.0.0.1; deny all;"
		export NGINX_DOCS_DIR="$ROOT/docs"
		export NGINX_WEB_DIR="$ROOT/deploy/web"
		# The event frontend's development origin (Vite), both spellings.
		export NGINX_CORS_ORIGINS='"http://localhost:5173" 1; "http://127.0.0.1:5173" 1;'
		# Only our placeholders: nginx's own $variables must survive.
		envsubst "$(compgen -v NGINX_ | sed 's/.*/${&}/' | tr '\n' ' ')" \
			<"$ROOT/deploy/nginx/farewell.conf.template" >"$1"
	)
}

nginx_cmd() { nginx -p "$NGINX_DIR" -c "$NGINX_CONF" -e "$LOGS/nginx-error.log" "$@"; }

prepare_nginx_conf() {
	mkdir -p "$NGINX_DIR/tmp"
	render_nginx "$NGINX_CONF"
	nginx_cmd -t -q >>"$LOGS/nginx-error.log" 2>&1 || {
		show_log_tail "$LOGS/nginx-error.log"
		die "nginx: rendered $NGINX_CONF is invalid (check deploy/nginx/farewell.conf.template)"
	}
}

start_nginx() {
	prepare_nginx_conf
	start_bg nginx "$LOGS/nginx.log" nginx -p "$NGINX_DIR" -c "$NGINX_CONF" \
		-e "$LOGS/nginx-error.log" -g 'daemon off;'
}

nginx_ready() { curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/nginx-health"; }

# reload_nginx_if_changed: a running nginx picks up template edits without a restart.
reload_nginx_if_changed() {
	local pid candidate="$NGINX_DIR/nginx.conf.new"
	pid="$(running_pid nginx)" || return 0
	mkdir -p "$NGINX_DIR/tmp"
	render_nginx "$candidate"
	if cmp -s "$candidate" "$NGINX_CONF"; then
		rm -f "$candidate"
		return 0
	fi
	mv -f "$candidate" "$NGINX_CONF"
	nginx_cmd -t -q >>"$LOGS/nginx-error.log" 2>&1 || die "nginx: rendered $NGINX_CONF is invalid"
	kill -HUP "$pid"
	info "  nginx              configuration changed: reloaded (pid $pid)"
}

# --- services

service_of() { echo "${1%-[0-9]*}"; }

build_services() {
	local svc start built=()
	for svc in auth apply-gateway stock-consumer notifier; do
		# Temporary while the services are being written: no main package yet, no instance.
		if ! compgen -G "$ROOT/services/$svc/cmd/$svc/*.go" >/dev/null; then
			warn "services/$svc/cmd/$svc has no Go files yet: skipping $svc"
			continue
		fi
		start="$(now_ms)"
		# Build next to the binary and rename, so a running instance keeps its file.
		if ! (cd "$ROOT" && go build -o "$BIN/$svc.new" "./services/$svc/cmd/$svc") >>"$LOGS/build.log" 2>&1; then
			show_log_tail "$LOGS/build.log"
			die "go build ./services/$svc/cmd/$svc failed (see $LOGS/build.log)"
		fi
		mv -f "$BIN/$svc.new" "$BIN/$svc"
		built+=("$svc")
		ready_line "build $svc" "$start" "$BIN/$svc"
	done
	BUILT_SERVICES=("${built[@]}")
}

start_instance() { # start_instance INSTANCE PORT
	local instance="$1" port="$2" svc
	svc="$(service_of "$instance")"
	(
		load_env
		export FAREWELL_HTTP_ADDR="127.0.0.1:$port" FAREWELL_INSTANCE="$instance"
		# A soft heap limit keeps the connection-heavy gateway inside its memory
		# budget during a herd (GC runs earlier); override by exporting GOMEMLIMIT.
		if [[ "$svc" == apply-gateway && -z "${GOMEMLIMIT:-}" ]]; then
			export GOMEMLIMIT=40MiB
		fi
		start_bg "$instance" "$LOGS/$instance.log" "$BIN/$svc"
	)
}

instance_ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz"; }

services_up() {
	local entry instance port svc start pid
	BUILT_SERVICES=()
	build_services
	for entry in "${SERVICE_INSTANCES[@]}"; do
		instance="${entry%%:*}"
		port="${entry#*:}"
		svc="$(service_of "$instance")"
		[[ " ${BUILT_SERVICES[*]} " == *" $svc "* ]] || continue
		start="$(now_ms)"
		if pid="$(running_pid "$instance")"; then
			wait_ready "$instance" "$LOGS/$instance.log" instance_ready "$port"
			printf '  %-20s already running   pid %-7s :%s (new build? stack.sh restart)\n' \
				"$instance" "$pid" "$port"
			continue
		fi
		rm -f "$(pid_file "$instance")"
		refuse_busy_port "$instance" "$port"
		start_instance "$instance" "$port"
		wait_ready "$instance" "$LOGS/$instance.log" instance_ready "$port"
		ready_line "$instance" "$start" "pid $(recorded_pid "$instance")  http://127.0.0.1:$port"
	done
}

# ---------------------------------------------------------------------------- commands

prepare() {
	mkdir -p "$LOGS" "$PIDS" "$BIN"
	# One stack.sh at a time; start_bg keeps this fd out of the daemons.
	exec 9>"$RUN/.stack.lock"
	flock -w 600 9 || die "another stack.sh is still running (lock $RUN/.stack.lock)"
}

infra_up() {
	info "infrastructure:"
	ensure_prerequisites
	ensure_env_file
	ensure_component redis "$REDIS_PORT" start_redis redis_ready "127.0.0.1:$REDIS_PORT (data $RUN/redis)"
	ensure_component mariadb "$MARIADB_PORT" start_mariadb mariadb_ready "127.0.0.1:$MARIADB_PORT (data $RUN/mariadb/data)"
	bootstrap_mariadb
	ensure_component kafka "$KAFKA_PORT" start_kafka kafka_ready "127.0.0.1:$KAFKA_PORT (KRaft, data $KAFKA_DIR/data)"
	ensure_topics
	ensure_component mailpit "$MAILPIT_PORT" start_mailpit mailpit_ready "smtp 127.0.0.1:$SMTP_PORT, ui http://127.0.0.1:$MAILPIT_PORT"
	reload_nginx_if_changed
	ensure_component nginx "$NGINX_PORT" start_nginx nginx_ready "http://127.0.0.1:$NGINX_PORT"
}

cmd_services() {
	info "services:"
	[[ -s "$ENV_FILE" ]] || die "$ENV_FILE is missing: run 'stack.sh infra' (or 'make run') first"
	if ! redis_ready || ! port_open "$MARIADB_PORT" || ! port_open "$KAFKA_PORT"; then
		die "infrastructure is not up: run 'stack.sh infra' (or 'make infra') first"
	fi
	services_up
}

print_urls() {
	local entry
	info ""
	info "Farewell local stack is up:"
	info "  public API     http://127.0.0.1:$NGINX_PORT   (health: /nginx-health)"
	info "  Mailpit UI     http://127.0.0.1:$MAILPIT_PORT   (SMTP 127.0.0.1:$SMTP_PORT)"
	info "  Redis 127.0.0.1:$REDIS_PORT · MariaDB 127.0.0.1:$MARIADB_PORT (farewell/farewell) · Kafka 127.0.0.1:$KAFKA_PORT"
	for entry in "${SERVICE_INSTANCES[@]}"; do
		running_pid "${entry%%:*}" >/dev/null || continue
		printf '  metrics        http://127.0.0.1:%s/metrics   (%s)\n' "${entry#*:}" "${entry%%:*}"
	done
	info "  environment    $ENV_FILE   logs $LOGS/   stop: make stop"
}

cmd_up() {
	local start
	start="$(now_ms)"
	infra_up
	cmd_services
	print_urls
	info "done in $(since "$start")"
}

cmd_infra() {
	local start
	start="$(now_ms)"
	infra_up
	print_urls
	info "done in $(since "$start")"
}

stop_services() {
	local i entry
	for ((i = ${#SERVICE_INSTANCES[@]} - 1; i >= 0; i--)); do
		entry="${SERVICE_INSTANCES[i]}"
		stop_component "${entry%%:*}"
	done
}

cmd_down() {
	info "stopping:"
	stop_services
	local i
	for ((i = ${#INFRA[@]} - 1; i >= 0; i--)); do
		stop_component "${INFRA[i]}"
	done
	info "stopped (data kept in $RUN; delete it for a clean slate)"
}

status_line() { # status_line NAME PORT READY_FN [ARGS]
	local name="$1" port="$2" pid state
	shift 2
	if pid="$(running_pid "$name")"; then
		if "$@" >/dev/null 2>&1; then state=up; else state="starting/unhealthy"; fi
	else
		pid="-"
		state=down
		[[ -z "$(recorded_pid "$name")" ]] || state="down (stale pid file)"
	fi
	printf '%-18s %-8s %-6s %s\n' "$name" "$pid" "$port" "$state"
}

cmd_status() {
	local entry
	printf '%-18s %-8s %-6s %s\n' COMPONENT PID PORT STATE
	status_line redis "$REDIS_PORT" redis_ready
	status_line mariadb "$MARIADB_PORT" mariadb_ready
	status_line kafka "$KAFKA_PORT" kafka_ready
	status_line mailpit "$MAILPIT_PORT" mailpit_ready
	status_line nginx "$NGINX_PORT" nginx_ready
	for entry in "${SERVICE_INSTANCES[@]}"; do
		status_line "${entry%%:*}" "${entry#*:}" instance_ready "${entry#*:}"
	done
}

cmd_logs() {
	local f
	if [[ $# -gt 0 ]]; then
		local files=()
		for f in "$LOGS/$1.log" "$LOGS/$1"-[0-9]*.log; do
			[[ -e "$f" ]] && files+=("$f")
		done
		if ((${#files[@]} == 0)); then
			local names=""
			for f in "$LOGS"/*.log; do [[ -e "$f" ]] && names+="$(basename "$f" .log) "; done
			die "no log named '$1' in $LOGS (try one of: ${names:-none yet})"
		fi
		exec tail -n 50 -F "${files[@]}"
	fi
	compgen -G "$LOGS/*.log" >/dev/null || die "no logs yet in $LOGS: run 'make run' first"
	for f in "$LOGS"/*.log; do
		printf '\n==> %s <==\n' "$f"
		tail -n 50 "$f"
	done
}

usage() {
	sed -n '2,/^set -euo/{/^#/!d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

main() {
	local cmd="${1:-}"
	[[ $# -gt 0 ]] && shift
	# Plain statements, not "prepare && cmd_up": errexit is off inside an && list.
	case "$cmd" in
	up)
		prepare
		cmd_up
		;;
	infra)
		prepare
		cmd_infra
		;;
	services)
		prepare
		cmd_services
		print_urls
		;;
	restart)
		prepare
		info "stopping services:"
		stop_services
		cmd_services
		print_urls
		;;
	down | stop)
		prepare
		cmd_down
		;;
	tools)
		# Tools only the test suite needs: promtool checks the alert rules; headless
		# Chromium and CJK fonts run the browser tests (test/browser).
		prepare
		PREREQS=(promtool:prometheus chromium:chromium)
		ensure_prerequisites
		# A font is no command: look for its file (Korean text in the screenshots).
		[[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]] || install_packages fonts-noto-cjk
		;;
	status) cmd_status ;;
	logs) cmd_logs "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
