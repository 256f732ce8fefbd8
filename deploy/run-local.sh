#!/usr/bin/env bash
# Try the scaled-out deployment on this machine (deploy/README.md, "Scaling out"):
#
#   deploy/run-local.sh          start it and demonstrate it with curl (it keeps running)
#   deploy/run-local.sh --stop   stop everything, drop the demo database and Redis keys
#
# What it starts, all on 127.0.0.1:
#   - two sesame instances, 127.0.0.1:5001 and 127.0.0.1:5002 (metrics on 9101 and 9102), with
#     the environment of deploy/sesame.env.example and these changes: the database
#     sesame_deploy_demo (created here) on the PostgreSQL at 127.0.0.1:5432 (user postgres,
#     trust authentication), sessions in the Redis at 127.0.0.1:6379 under the key prefix
#     sesame-demo:, and SESSION_COOKIE_SECURE=false (plain HTTP);
#   - nginx on 127.0.0.1:8080 with deploy/nginx.conf, as a process of its own (nginx -p with a
#     temporary prefix, -c deploy/nginx.conf), never the system's nginx service.
#
# It needs PostgreSQL and Redis already running there (.ci/run starts both), curl, jq, psql and
# redis-cli (installed with apt-get if missing), and nginx (installed with apt-get if missing). The sesame binary is
# target/release/sesame (built with cargo if missing; SESAME_BIN=/path/to/sesame to use
# another). Logs, pids and nginx's prefix are in $SESAME_DEMO_DIR (default
# /tmp/sesame-deploy-demo).
set -euo pipefail

DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$DEPLOY")
STATE=${SESAME_DEMO_DIR:-/tmp/sesame-deploy-demo}
SESAME_BIN=${SESAME_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/sesame}

PG=(psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
DB=sesame_deploy_demo
DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
REDIS=(redis-cli -h 127.0.0.1 -p 6379 -n 0)
REDIS_URL=redis://127.0.0.1:6379/0
PREFIX=sesame-demo:
PORTS=(5001 5002)
declare -A METRICS_PORT=([5001]=9101 [5002]=9102)
PROXY=http://127.0.0.1:8080
API=$PROXY/api/v1
ADMIN_EMAIL=admin@demo.example
COOKIE=_my_session_id

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
info() { printf '   %s\n' "$*"; }
die() { printf 'run-local.sh: %s\n' "$*" >&2; exit 1; }

# --- processes we started: pid files in $STATE, checked against their command line ----------

# The pid in $1 if it is alive and its command line contains $2.
live_pid() {
  local file=$1 what=$2 pid
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$what" || return 1
  echo "$pid"
}

# Sends $2 to the process of pid file $1 (command line containing $3) and waits up to $4 s.
stop_pid() {
  local file=$1 sig=$2 what=$3 wait=$4 pid
  if pid=$(live_pid "$file" "$what"); then
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < wait * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      info "pid $pid ($what) still running after ${wait} s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    else
      info "stopped $what (pid $pid)"
    fi
  fi
  rm -f "$file"
}

drop_demo_data() {
  if command -v psql >/dev/null && "${PG[@]}" -c 'SELECT 1' >/dev/null 2>&1; then
    "${PG[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null \
      || "${PG[@]}" -c "DROP DATABASE IF EXISTS $DB"
    info "database $DB dropped"
  else
    info "PostgreSQL not reachable: database $DB not dropped"
  fi
  if command -v redis-cli >/dev/null && "${REDIS[@]}" ping >/dev/null 2>&1; then
    local n
    n=$("${REDIS[@]}" --scan --pattern "$PREFIX*" | wc -l)
    "${REDIS[@]}" --scan --pattern "$PREFIX*" | xargs -r -n 100 "${REDIS[@]}" del >/dev/null
    info "$n Redis keys under $PREFIX deleted"
  else
    info "Redis not reachable: keys under $PREFIX not deleted"
  fi
}

stop_all() {
  say "stopping"
  if [[ -d $STATE/nginx ]]; then
    stop_pid "$STATE/nginx/logs/nginx.pid" QUIT "nginx: master" 10
  fi
  for port in "${PORTS[@]}"; do
    # SIGTERM: sesame finishes in-flight requests and exits 0 (systemd waits 30 s as well).
    stop_pid "$STATE/sesame-$port.pid" TERM "sesame" 30
  done
  drop_demo_data
  if [[ -d $STATE && ! -L $STATE ]]; then
    rm -rf -- "$STATE"
    info "removed $STATE"
  fi
}

if [[ ${1:-} == --stop ]]; then
  stop_all
  exit 0
elif [[ $# -gt 0 ]]; then
  die "usage: $0 [--stop]"
fi

# --- prerequisites ----------------------------------------------------------------------------

apt_install() {
  command -v apt-get >/dev/null || die "$* missing and no apt-get to install it"
  [[ $(id -u) == 0 ]] || die "$* missing: install it (apt-get install $*) or run this as root"
  say "installing $* with apt-get"
  # Installing nginx must not start the system's nginx service (port 80): Debian's
  # policy-rc.d says no to every start while the install runs, if there is none already.
  local policy=/usr/sbin/policy-rc.d added=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added=1
  fi
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || { [[ -n $added ]] && rm -f "$policy"; die "apt-get install $* failed"; }
  if [[ -n $added ]]; then rm -f "$policy"; fi
}

for pid_file in "$STATE"/sesame-*.pid "$STATE/nginx/logs/nginx.pid"; do
  if live_pid "$pid_file" "sesame\|nginx" >/dev/null; then
    die "already running (see $STATE); stop it first with $0 --stop"
  fi
done

command -v curl >/dev/null || apt_install curl
command -v jq >/dev/null || apt_install jq
command -v psql >/dev/null || apt_install postgresql-client
command -v redis-cli >/dev/null || apt_install redis-tools
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || apt_install nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

"${PG[@]}" -c 'SELECT 1' >/dev/null 2>&1 \
  || die "no PostgreSQL on 127.0.0.1:5432 accepting user postgres without a password (.ci/run starts one)"
"${REDIS[@]}" ping >/dev/null 2>&1 || die "no Redis on 127.0.0.1:6379 (.ci/run starts one)"
for port in "${PORTS[@]}" "${METRICS_PORT[@]}" 8080; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "127.0.0.1:$port is already in use"
  fi
done

if [[ ! -x $SESAME_BIN ]]; then
  [[ $SESAME_BIN == "${CARGO_TARGET_DIR:-$ROOT/target}/release/sesame" ]] || die "SESAME_BIN=$SESAME_BIN is not executable"
  say "building $SESAME_BIN"
  (cd "$ROOT" && cargo build --release --locked)
fi

if [[ -L $STATE ]] || { [[ -e $STATE ]] && [[ ! -O $STATE ]]; }; then
  die "$STATE exists and is not ours; set SESAME_DEMO_DIR to another path"
fi
rm -rf -- "$STATE"
mkdir -p "$STATE/nginx/logs" "$STATE/nginx/temp"
# From here on, a failure leaves things running: say how to clean up.
trap 'rc=$?; ((rc == 0)) || echo "run-local.sh: failed; logs in $STATE; clean up with $0 --stop" >&2' EXIT
# nginx's workers run as an unprivileged user when nginx is started as root: let them in.
chmod 755 "$STATE" "$STATE/nginx"

# --- the stores -------------------------------------------------------------------------------

say "stores: PostgreSQL database $DB, Redis keys $PREFIX*"
drop_demo_data   # leftovers of an earlier run that was not stopped
"${PG[@]}" -c "CREATE DATABASE $DB"
info "database $DB created (the instances create the schema)"

# --- the instances ----------------------------------------------------------------------------

# The demo's changes to deploy/sesame.env.example.
cat >"$STATE/demo.env" <<EOF
DATABASE_URL=$DATABASE_URL
SESSION_STORE_URL=$REDIS_URL
SESSION_STORE_PREFIX=$PREFIX
SESSION_COOKIE_SECURE=false
EOF

# Exports the deployment's environment (in a subshell: the callers run in one), and nothing
# else of sesame's configuration this shell may have inherited.
load_env() {
  unset API_HOST API_PORT AUTH_TYPE SESSION_NAME SESSION_DURATION SESSION_IDLE_TIMEOUT \
    DATABASE_URL SESSION_STORE_URL SESSION_STORE_PREFIX SESSION_COOKIE_SECURE CORS_ORIGINS \
    RUST_LOG LOG_FORMAT THROTTLE_ACCOUNT_FREE THROTTLE_ADDRESS_FREE THROTTLE_MAX_DELAY \
    TRUST_X_FORWARDED_FOR STORE_STARTUP_TIMEOUT METRICS_ADDR
  set -a
  # shellcheck source=deploy/sesame.env.example
  . "$DEPLOY/sesame.env.example"
  . "$STATE/demo.env"
  set +a
}

start_instance() {
  local port=$1
  (
    load_env
    # What sesame@.service does: the instance name is the port, on 127.0.0.1 only; and a
    # metrics port of its own (a drop-in's METRICS_ADDR in the systemd setup).
    export API_HOST=127.0.0.1 API_PORT=$port METRICS_ADDR=127.0.0.1:${METRICS_PORT[$port]}
    # A session of its own: a Ctrl-C in this terminal does not reach it.
    exec setsid "$SESAME_BIN" serve --api-host 127.0.0.1 --api-port "$port"
  ) </dev/null >>"$STATE/sesame-$port.log" 2>&1 &
  echo $! >"$STATE/sesame-$port.pid"
}

# Waits until the instance on $1 answers /api/v1/health/ready.
wait_ready() {
  local port=$1 pid
  for ((i = 0; i < 450; i++)); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/api/v1/health/ready" 2>/dev/null; then
      return 0
    fi
    if ! pid=$(live_pid "$STATE/sesame-$port.pid" sesame); then
      tail -n 20 "$STATE/sesame-$port.log" >&2
      die "the instance on port $port exited (log above: $STATE/sesame-$port.log)"
    fi
    sleep 0.1
  done
  tail -n 20 "$STATE/sesame-$port.log" >&2
  die "the instance on port $port is not ready after 45 s"
}

say "two sesame instances (both at once: the schema is migrated under an advisory lock)"
for port in "${PORTS[@]}"; do start_instance "$port"; done
for port in "${PORTS[@]}"; do
  wait_ready "$port"
  info "127.0.0.1:$port ready (pid $(<"$STATE/sesame-$port.pid"), metrics 127.0.0.1:${METRICS_PORT[$port]}, log $STATE/sesame-$port.log)"
done
info "schema version: $("${PG[@]}" -d "$DB" -c 'SELECT max(version) FROM sesame_schema_migrations')"

say "the first administrator, on the command line (sesame user create --password-stdin)"
ADMIN_PASSWORD="demo-$(head -c 12 /dev/urandom | base64 | tr '+/' '-_')"
printf '%s\n' "$ADMIN_PASSWORD" >"$STATE/admin-password"
chmod 600 "$STATE/admin-password"
printf '%s\n' "$ADMIN_PASSWORD" | (
  load_env
  RUST_LOG=warn exec "$SESAME_BIN" user create --email "$ADMIN_EMAIL" --admin --password-stdin
) >/dev/null
info "$ADMIN_EMAIL created (password in $STATE/admin-password)"

# --- nginx ------------------------------------------------------------------------------------

say "nginx on 127.0.0.1:8080 (-p $STATE/nginx/ -c $DEPLOY/nginx.conf)"
NGINX_ARGS=(-p "$STATE/nginx/" -c "$DEPLOY/nginx.conf" -e "$STATE/nginx/logs/error.log")
"$NGINX" -t -q "${NGINX_ARGS[@]}"
"$NGINX" "${NGINX_ARGS[@]}"
for ((i = 0; i < 50; i++)); do
  curl -fsS -o /dev/null "$API/status" 2>/dev/null && break
  sleep 0.1
done
info "nginx master pid $(<"$STATE/nginx/logs/nginx.pid")"

# --- the demonstration ------------------------------------------------------------------------

# request METHOD URL [curl options...]: sets STATUS, UPSTREAM, BODY and HEADERS.
request() {
  local method=$1 url=$2
  shift 2
  HEADERS=$(mktemp "$STATE/headers.XXXXXX")
  BODY=$(curl -sS -X "$method" -D "$HEADERS" "$@" "$url")
  STATUS=$(awk 'NR == 1 { print $2 }' "$HEADERS")
  UPSTREAM=$(tr -d '\r' <"$HEADERS" | sed -n 's/^[Xx]-[Uu]pstream: //p')
}

# expect STATUS: fails the demonstration unless the last request answered it.
expect() {
  if [[ $STATUS != "$1" ]]; then
    cat "$HEADERS" >&2
    printf '%s\n' "$BODY" >&2
    die "expected $1, got $STATUS"
  fi
}

say "through the proxy: status and readiness"
request GET "$API/status"; expect 200
info "GET /api/v1/status       -> $STATUS $BODY  (X-Upstream: $UPSTREAM)"
request GET "$API/health/ready"; expect 200
info "GET /api/v1/health/ready -> $STATUS $BODY  (X-Upstream: $UPSTREAM)"

say "log in through the proxy, as a browser on http://127.0.0.1:8080 would"
# A made-up X-Forwarded-For: nginx appends the real address and sesame takes the last entry.
request POST "$API/auth_session/login" \
  -H 'Origin: http://127.0.0.1:8080' -H 'Sec-Fetch-Site: same-origin' \
  -H 'X-Forwarded-For: 203.0.113.7' \
  --data-urlencode "email=$ADMIN_EMAIL" --data-urlencode "password=$ADMIN_PASSWORD"
expect 200
TOKEN=$(tr -d '\r' <"$HEADERS" | sed -n "s/^[Ss]et-[Cc]ookie: $COOKIE=\([^;]*\).*/\1/p")
[[ -n $TOKEN ]] || die "no $COOKIE cookie in the login answer"
info "POST /auth_session/login -> $STATUS $(jq -c '{email, is_admin}' <<<"$BODY")  (X-Upstream: $UPSTREAM)"
info "Set-Cookie: $(tr -d '\r' <"$HEADERS" | sed -n 's/^[Ss]et-[Cc]ookie: [^=]*=[^;]*; //p')"

info "sessions in Redis: $("${REDIS[@]}" --scan --pattern "${PREFIX}s:*" | wc -l) key(s) ${PREFIX}s:<sha-256 of the token>"

say "the same session, answered by both instances (round robin)"
declare -A seen=()
for i in 1 2 3 4 5 6; do
  request GET "$API/users/me" -H "Cookie: $COOKIE=$TOKEN"
  expect 200
  seen[$UPSTREAM]=1
  info "GET /users/me -> $STATUS $(jq -r .email <<<"$BODY")  (X-Upstream: $UPSTREAM)"
done
for port in "${PORTS[@]}"; do
  [[ -n ${seen[127.0.0.1:$port]:-} ]] || die "no answer came from 127.0.0.1:$port"
done

request GET "$API/users/me/sessions" -H "Cookie: $COOKIE=$TOKEN"; expect 200
info "the session's client address: $(jq -r '.[] | select(.current) | .ip' <<<"$BODY")" \
  "(the client claimed X-Forwarded-For: 203.0.113.7; the last entry, nginx's, counts)"

say "a cross-site request is refused, whichever instance gets it"
request POST "$API/auth_session/login" -H 'Origin: https://evil.example' \
  --data-urlencode "email=$ADMIN_EMAIL" --data-urlencode "password=$ADMIN_PASSWORD"
expect 403
info "POST /auth_session/login with Origin: https://evil.example -> $STATUS $BODY  (X-Upstream: $UPSTREAM)"

say "metrics stay internal"
request GET "$PROXY/metrics"; expect 403
info "GET $PROXY/metrics -> $STATUS (denied by nginx)"
for port in "${PORTS[@]}"; do
  m=${METRICS_PORT[$port]}
  info "127.0.0.1:$m/metrics: $(curl -fsS "http://127.0.0.1:$m/metrics" | grep '^sesame_logins_total{outcome="ok"}')"
done

say "rolling restart: SIGTERM to 127.0.0.1:5001, requests keep working through 5002"
stop_pid "$STATE/sesame-5001.pid" TERM sesame 30
grep -o '"message":"[^"]*shutting down[^"]*"\|"message":"stopped"' "$STATE/sesame-5001.log" \
  | sed 's/^/   log: /' || true
info "(\"127.0.0.1:5001, 127.0.0.1:5002\": nginx found 5001 refusing connections and passed the"
info " request on; after max_fails=3 it leaves 5001 alone for fail_timeout=10s)"
for i in 1 2 3 4 5 6; do
  request GET "$API/users/me" -H "Cookie: $COOKIE=$TOKEN"
  expect 200
  info "GET /users/me -> $STATUS  (X-Upstream: $UPSTREAM)"
done
start_instance 5001
wait_ready 5001
info "127.0.0.1:5001 back (pid $(<"$STATE/sesame-5001.pid")); the session still works there:"
# nginx sends it requests again once fail_timeout has passed since its last failure.
seen_5001=
for ((i = 0; i < 60; i++)); do
  request GET "$API/users/me" -H "Cookie: $COOKIE=$TOKEN"
  expect 200
  if [[ $UPSTREAM == 127.0.0.1:5001 ]]; then
    info "GET /users/me -> $STATUS  (X-Upstream: $UPSTREAM)"
    seen_5001=1
    break
  fi
  sleep 0.25
done
[[ -n $seen_5001 ]] || die "127.0.0.1:5001 got no request within 15 s of coming back"

say "log out through the proxy"
request DELETE "$API/auth_session/logout" -H "Cookie: $COOKIE=$TOKEN"; expect 200
info "DELETE /auth_session/logout -> $STATUS $BODY  (X-Upstream: $UPSTREAM)"

say "the old cookie is refused by both instances"
declare -A seen=()
for i in 1 2 3 4; do
  request GET "$API/users/me" -H "Cookie: $COOKIE=$TOKEN"
  expect 403
  seen[$UPSTREAM]=1
  info "GET /users/me -> $STATUS $BODY  (X-Upstream: $UPSTREAM)"
done
for port in "${PORTS[@]}"; do
  [[ -n ${seen[127.0.0.1:$port]:-} ]] || die "no refusal came from 127.0.0.1:$port"
done
rm -f "$STATE"/headers.*

say "running"
cat <<EOF
   proxy      $PROXY   (try: curl -i $API/status)
   instances  127.0.0.1:5001, 127.0.0.1:5002; logs $STATE/sesame-*.log
   nginx      logs in $STATE/nginx/logs
   admin      $ADMIN_EMAIL, password in $STATE/admin-password
   stop       $0 --stop   (also drops the database $DB and the Redis keys $PREFIX*)
EOF
