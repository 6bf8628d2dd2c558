#!/usr/bin/env bash
# tollgate side by side with nginx `secure_link` (issue 5). One script, from a fresh clone:
#
#   benches/load/run.sh                 # ROUNDS=3, DURATION=10 (s per wrk/h2load run)
#   ROUNDS=1 DURATION=5 benches/load/run.sh    # a quick look
#
# What it does, step by step (each step is a function below):
#   1. installs what is missing (nginx with secure_link, wrk, h2load, python3, gnuplot),
#      builds tollgate (`cargo build --release`);
#   2. refuses to start if any of its ports (BASE_PORT .. BASE_PORT+8, default 18080..18088)
#      is already listening; stops everything it started on exit;
#   3. makes a data folder (1 KiB and 1 GiB files) in a temp dir;
#   4. starts an origin (nginx, sendfile, 1 worker), nginx secure_link + proxy to it (1 worker,
#      upstream keepalive 64, plain HTTP and TLS 1.3 with h2; one location serves the folder
#      itself, the fair match for tollgate's dir route), and three tollgates (plain, TLS,
#      and one that serves only the 1 GiB downloads, so that its peak RSS is theirs alone),
#      each with an `http` route to the same origin and a `dir` route over the same folder;
#   5. runs every case against every target in turn, A B A B, ROUNDS rounds;
#   6. writes bench-results/latest.{csv,md,png} and prints the table of medians.
#
# Environment knobs: ROUNDS (3), DURATION (10, seconds), BASE_PORT (18080), OUT (bench-results),
# IDLE_WAIT (600: seconds to wait for a 1-minute load average below IDLE_LOAD=0.5 before
# measuring; 0 = don't wait), SKIP_BUILD (0), CASES (all: space-separated subset of
# "h1 tls c1000 badsig h2 big"), REPORT_ONLY (1 = only re-render latest.md/png from
# bench-results/latest.csv and latest.meta).
# All traffic is on 127.0.0.1; every request loop is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
BASE_PORT=${BASE_PORT:-18080}
OUT=${OUT:-bench-results}
IDLE_WAIT=${IDLE_WAIT:-600}
IDLE_LOAD=${IDLE_LOAD:-0.5}
SKIP_BUILD=${SKIP_BUILD:-0}
CASES=${CASES:-"h1 tls c1000 badsig h2 big"}

P_ORIGIN=$BASE_PORT            # origin nginx (sendfile)
P_NGX=$((BASE_PORT + 1))       # nginx secure_link, plain HTTP
P_NGX_TLS=$((BASE_PORT + 2))   # nginx secure_link, TLS 1.3 (http/1.1 and h2)
P_TG=$((BASE_PORT + 3))        # tollgate, plain HTTP, data plane
P_TG_ADMIN=$((BASE_PORT + 4))  # tollgate, plain HTTP, admin plane
P_TG_TLS=$((BASE_PORT + 5))    # tollgate, TLS, data plane
P_TG_TLS_ADMIN=$((BASE_PORT + 6))
P_TG_BIG=$((BASE_PORT + 7))    # tollgate, plain HTTP, the 1 GiB downloads only
P_TG_BIG_ADMIN=$((BASE_PORT + 8))
PORTS=("$P_ORIGIN" "$P_NGX" "$P_NGX_TLS" "$P_TG" "$P_TG_ADMIN" "$P_TG_TLS" "$P_TG_TLS_ADMIN" "$P_TG_BIG" "$P_TG_BIG_ADMIN")

BIN=$REPO/target/release/tollgate
WORK=""
STARTED=()          # pids of every server this script started (nginx masters, tollgates)
CLK_TCK=$(getconf CLK_TCK)

log() { printf '\n[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
say() { printf '    %s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# 1. dependencies and build

have_secure_link() { command -v nginx >/dev/null && nginx -V 2>&1 | grep -q -- '--with-http_secure_link_module'; }

install_deps() {
  log "1. checking dependencies"
  local need=()
  have_secure_link || need+=(nginx)
  command -v wrk >/dev/null || need+=(wrk)
  command -v h2load >/dev/null || need+=(nghttp2-client)
  command -v python3 >/dev/null || need+=(python3)
  command -v gnuplot >/dev/null || need+=(gnuplot-nox)
  command -v curl >/dev/null || need+=(curl)
  command -v ss >/dev/null || need+=(iproute2)
  if [ ${#need[@]} -gt 0 ]; then
    say "installing from Debian: ${need[*]}"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if ! have_secure_link; then
    # Debian's nginx-light lacks secure_link; the `nginx` (>= bookworm) / nginx-full package has it.
    say "installed nginx lacks secure_link; installing nginx-full"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-full >/dev/null || true
    have_secure_link || die "no nginx with --with-http_secure_link_module available"
  fi
  nginx -V 2>&1 | grep -q -- '--with-http_v2_module' || die "nginx lacks http_v2"
  nginx -V 2>&1 | grep -q -- '--with-http_stub_status_module' || die "nginx lacks stub_status"
  say "nginx $(nginx -v 2>&1 | sed 's|.*/||'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), h2load $(h2load --version | awk '{print $NF}'), $(gnuplot --version)"
}

build() {
  log "1b. building tollgate (cargo build --release)"
  if [ "$SKIP_BUILD" = 1 ] && [ -x "$BIN" ]; then say "SKIP_BUILD=1: using $BIN as is"; return; fi
  cargo build --release 2>&1 | tail -n 2
  [ -x "$BIN" ] || die "no $BIN after the build"
}

# ---------------------------------------------------------------------------------------------
# 2. ports, limits, cleanup

check_ports() {
  log "2. checking that ports ${PORTS[0]}..${PORTS[-1]} are free"
  local p busy=()
  for p in "${PORTS[@]}"; do
    if [ -n "$(ss -ltnH "sport = :$p" 2>/dev/null)" ]; then busy+=("$p"); fi
  done
  [ ${#busy[@]} -eq 0 ] || die "port(s) ${busy[*]} already in use (set BASE_PORT to move the range); refusing to run"
  # 1000 client connections plus as many upstream ones: raise the descriptor limit for every
  # process started from here on.
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  say "ports free; ulimit -n $(ulimit -n)"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ ${#STARTED[@]} -gt 0 ]; then
    printf '\n[%s] stopping %d server process(es): %s\n' "$(date +%H:%M:%S)" "${#STARTED[@]}" "${STARTED[*]}"
    local pid
    for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
      local alive=0
      for pid in "${STARTED[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ $alive = 0 ] && break
      sleep 0.1
    done
    for pid in "${STARTED[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
  fi
  [ -n "$WORK" ] && rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# 3. data

make_data() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench.XXXXXX")
  log "3. data folder in $WORK/data (1 KiB and 1 GiB files)"
  mkdir -p "$WORK/data" "$WORK/raw" "$WORK/nginx-tmp"
  head -c 1024 /dev/urandom > "$WORK/data/1k.bin"
  dd if=/dev/urandom of="$WORK/data/1g.bin" bs=1M count=1024 status=none
  # nginx workers drop to `nobody` when started as root: let them read the data and write temps.
  chmod 755 "$WORK" "$WORK/data"; chmod 644 "$WORK"/data/*; chmod 1777 "$WORK/nginx-tmp"
}

# ---------------------------------------------------------------------------------------------
# 4. servers

# Common nginx prologue: 1 worker, generous descriptor limits, everything under $WORK.
nginx_prologue() { # name
  cat <<EOF
worker_processes 1;
worker_rlimit_nofile 65536;
pid $WORK/$1.pid;
error_log $WORK/$1-error.log warn;
events { worker_connections 16384; }
EOF
}

nginx_http_common() {
  # keepalive_requests: nginx closes a keep-alive connection after 1000 requests by default;
  # wrk would then reconnect, which costs nginx (not tollgate) handshakes. Raised so nginx is
  # not penalised by a default that tollgate does not share.
  cat <<EOF
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path $WORK/nginx-tmp/body;
  proxy_temp_path $WORK/nginx-tmp/proxy;
  fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
  scgi_temp_path $WORK/nginx-tmp/scgi;
EOF
}

write_nginx_configs() {
  NGX_SECRET=$("$BIN" keygen)
  # `http2 on;` exists from nginx 1.25.1; older versions take `http2` on the listen line.
  local ver h2_listen="" h2_directive=""
  ver=$(nginx -v 2>&1 | sed 's|.*nginx/||; s| .*||')
  if printf '%s\n1.25.1\n' "$ver" | sort -V -C; then h2_listen=" http2"; else h2_directive="http2 on;"; fi
  {
    nginx_prologue origin
    echo "http {"
    nginx_http_common
    cat <<EOF
  server {
    listen 127.0.0.1:$P_ORIGIN backlog=4096;
    root $WORK/data;
    location / { }
    location = /__status { stub_status; }
  }
}
EOF
  } > "$WORK/origin.conf"
  {
    nginx_prologue securelink
    echo "http {"
    nginx_http_common
    cat <<EOF
  upstream origin {
    server 127.0.0.1:$P_ORIGIN;
    keepalive 64;
    keepalive_requests 1000000;
  }
  ssl_protocols TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_timeout 1h;
  server {
    listen 127.0.0.1:$P_NGX backlog=4096;
    listen 127.0.0.1:$P_NGX_TLS ssl$h2_listen backlog=4096;
    $h2_directive
    ssl_certificate $REPO/certs/dev.crt;
    ssl_certificate_key $REPO/certs/dev.key;
    location /files/ {
      secure_link \$arg_md5,\$arg_expires;
      secure_link_md5 "\$secure_link_expires\$uri $NGX_SECRET";
      if (\$secure_link = "") { return 403; }
      if (\$secure_link = "0") { return 410; }
      proxy_pass http://origin/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # No spooling of a large response to a temp file on disk (the usual setting for
      # proxying big files; nginx's default would write up to 1 GiB to disk).
      proxy_max_temp_file_size 0;
    }
    # The same, with buffers sized for big files: nginx's default 8 x 4k/8k buffers proxy a
    # 1 GiB file at well under half this speed. Used by the 1 GiB case only (a 256k
    # proxy_buffer_size is allocated for every request, which small requests should not pay).
    location /big/ {
      secure_link \$arg_md5,\$arg_expires;
      secure_link_md5 "\$secure_link_expires\$uri $NGX_SECRET";
      if (\$secure_link = "") { return 403; }
      if (\$secure_link = "0") { return 410; }
      proxy_pass http://origin/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_max_temp_file_size 0;
      proxy_buffer_size 256k;
      proxy_buffers 8 256k;
      proxy_busy_buffers_size 512k;
    }
    # The same check in front of the folder itself, no proxy: what tollgate's dir route
    # replaces when nginx can see the files.
    location /local/ {
      secure_link \$arg_md5,\$arg_expires;
      secure_link_md5 "\$secure_link_expires\$uri $NGX_SECRET";
      if (\$secure_link = "") { return 403; }
      if (\$secure_link = "0") { return 410; }
      alias $WORK/data/;
    }
  }
}
EOF
  } > "$WORK/securelink.conf"
}

start_nginx() { # name -> sets NGX_MASTER_<name>
  local name=$1 pid
  nginx -t -q -e "$WORK/$name-error.log" -c "$WORK/$name.conf" -p "$WORK" \
    || { cat "$WORK/$name-error.log" >&2; die "nginx config $name refused"; }
  nginx -e "$WORK/$name-error.log" -c "$WORK/$name.conf" -p "$WORK" -g 'daemon off;' &
  pid=$!
  STARTED+=("$pid")
  printf -v "MASTER_$name" '%s' "$pid"
}

# The single worker of an nginx master (the process that does the work).
nginx_worker() { # master_pid
  local w=""
  for _ in $(seq 100); do
    w=$(pgrep -P "$1" | head -n1 || true)
    [ -n "$w" ] && break
    sleep 0.05
  done
  [ -n "$w" ] || die "nginx master $1 has no worker"
  echo "$w"
}

write_tollgate_config() { # file port admin_port tls(0|1) state_dir
  local scheme=http tls=""
  if [ "$4" = 1 ]; then
    scheme=https
    tls="tls = { cert = \"$REPO/certs/dev.crt\", key = \"$REPO/certs/dev.key\" }"
  fi
  cat > "$1" <<EOF
public_url = "$scheme://127.0.0.1:$2"
[server]
listen = "127.0.0.1:$2"
$tls
[admin]
listen = "127.0.0.1:$3"
[state]
backend = "embedded"
path = "$5"
[[keys]]
id = "bench"
secret = "$TG_SECRET"
[[origins]]
name = "upstream"
kind = "http"
url = "http://127.0.0.1:$P_ORIGIN"
[[origins]]
name = "local"
kind = "dir"
root = "$WORK/data"
[[routes]]
prefix = "/files/"
origin = "upstream"
strip_prefix = true
filters = ["signature"]
[[routes]]
prefix = "/local/"
origin = "local"
strip_prefix = true
filters = ["signature"]
EOF
}

start_tollgate() { # config admin_port -> pid in TG_LAST
  TOLLGATE_LOG=warn "$BIN" serve --config "$1" 2>>"$WORK/tollgate.log" &
  TG_LAST=$!
  STARTED+=("$TG_LAST")
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$2/readyz" >/dev/null 2>&1 && return
    kill -0 "$TG_LAST" 2>/dev/null || { cat "$WORK/tollgate.log" >&2; die "tollgate exited"; }
    sleep 0.1
  done
  die "tollgate on admin port $2 never became ready"
}

start_servers() {
  log "4. starting servers"
  TG_SECRET=$("$BIN" keygen)
  write_nginx_configs
  start_nginx origin
  start_nginx securelink
  write_tollgate_config "$WORK/tollgate.toml" "$P_TG" "$P_TG_ADMIN" 0 "$WORK/state-plain"
  write_tollgate_config "$WORK/tollgate-tls.toml" "$P_TG_TLS" "$P_TG_TLS_ADMIN" 1 "$WORK/state-tls"
  write_tollgate_config "$WORK/tollgate-stream.toml" "$P_TG_BIG" "$P_TG_BIG_ADMIN" 0 "$WORK/state-stream"
  "$BIN" check --config "$WORK/tollgate.toml" >/dev/null
  start_tollgate "$WORK/tollgate.toml" "$P_TG_ADMIN";         TG_PID=$TG_LAST
  start_tollgate "$WORK/tollgate-tls.toml" "$P_TG_TLS_ADMIN"; TG_TLS_PID=$TG_LAST
  # A process of its own for the 1 GiB downloads: memory that the 1000-connection case leaves
  # in the plain process would otherwise be counted as the downloads' peak.
  start_tollgate "$WORK/tollgate-stream.toml" "$P_TG_BIG_ADMIN"; TG_BIG_PID=$TG_LAST
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$P_ORIGIN/__status" >/dev/null 2>&1 && break; sleep 0.05
  done
  ORIGIN_W=$(nginx_worker "$MASTER_origin")
  NGX_W=$(nginx_worker "$MASTER_securelink")
  say "origin nginx        :$P_ORIGIN        master $MASTER_origin worker $ORIGIN_W"
  say "nginx secure_link   :$P_NGX / TLS :$P_NGX_TLS  master $MASTER_securelink worker $NGX_W"
  say "tollgate (plain)    :$P_TG (admin :$P_TG_ADMIN)   pid $TG_PID"
  say "tollgate (TLS)      :$P_TG_TLS (admin :$P_TG_TLS_ADMIN)   pid $TG_TLS_PID"
  say "tollgate (1 GiB)    :$P_TG_BIG (admin :$P_TG_BIG_ADMIN)   pid $TG_BIG_PID"
}

# nginx secure_link URL: md5 = base64url(md5("$expires$uri $secret")), no padding.
nginx_url() { # base uri
  python3 - "$1" "$2" "$NGX_SECRET" <<'PY'
import base64, hashlib, sys, time
base, uri, secret = sys.argv[1:]
exp = int(time.time()) + 86400
md5 = base64.urlsafe_b64encode(hashlib.md5(f"{exp}{uri} {secret}".encode()).digest()).decode().rstrip("=")
print(f"{base}{uri}?md5={md5}&expires={exp}")
PY
}

# Changes one character in the middle of the last part of a token / md5 (the MAC), keeping it
# the same length and alphabet: a bad signature, not a malformed URL.
tamper() { # url param
  python3 - "$1" "$2" <<'PY'
import sys
url, param = sys.argv[1:]
head, _, rest = url.partition(param + "=")
val, amp, tail = rest.partition("&")
i = len(val) - 10
val = val[:i] + ("B" if val[i] != "B" else "C") + val[i + 1:]
print(head + param + "=" + val + amp + tail)
PY
}

sign_urls() {
  log "4b. signing URLs (tollgate sign / md5 for nginx) and checking every target answers"
  local tg="$BIN sign --config $WORK/tollgate.toml --expires-in 86400"
  local tgs="$BIN sign --config $WORK/tollgate-tls.toml --expires-in 86400"
  local tgb="$BIN sign --config $WORK/tollgate-stream.toml --expires-in 86400"
  declare -gA URL
  URL[origin_1k]="http://127.0.0.1:$P_ORIGIN/1k.bin"
  URL[origin_1g]="http://127.0.0.1:$P_ORIGIN/1g.bin"
  URL[nginx_1k]=$(nginx_url "http://127.0.0.1:$P_NGX" /files/1k.bin)
  URL[nginx_1g]=$(nginx_url "http://127.0.0.1:$P_NGX" /files/1g.bin)
  URL[nginx_big_1g]=$(nginx_url "http://127.0.0.1:$P_NGX" /big/1g.bin)
  URL[nginx_tls_1k]=$(nginx_url "https://127.0.0.1:$P_NGX_TLS" /files/1k.bin)
  URL[nginx_dir_1k]=$(nginx_url "http://127.0.0.1:$P_NGX" /local/1k.bin)
  URL[nginx_bad]=$(tamper "${URL[nginx_1k]}" md5)
  URL[tg_http_1k]=$($tg --path /files/1k.bin)
  URL[tg_dir_1k]=$($tg --path /local/1k.bin)
  URL[tg_big_1k]=$($tgb --path /files/1k.bin)
  URL[tg_http_1g]=$($tgb --path /files/1g.bin)
  URL[tg_dir_1g]=$($tgb --path /local/1g.bin)
  URL[tg_tls_1k]=$($tgs --path /files/1k.bin)
  URL[tg_bad]=$(tamper "${URL[tg_http_1k]}" token)
  local k code want
  for k in origin_1k nginx_1k nginx_dir_1k nginx_tls_1k tg_http_1k tg_dir_1k tg_tls_1k tg_big_1k nginx_bad tg_bad; do
    want=200; [[ $k == *_bad ]] && want=403
    code=$(curl -sk --max-time 5 -o "$WORK/probe" -w '%{http_code}' "${URL[$k]}")
    [ "$code" = "$want" ] || die "$k: HTTP $code, expected $want (${URL[$k]})"
    if [ "$want" = 200 ]; then cmp -s "$WORK/probe" "$WORK/data/1k.bin" || die "$k: wrong body"; fi
    say "$k -> $code"
  done
  code=$(curl -sk --http2 --max-time 5 -o /dev/null -w '%{http_version}' "${URL[tg_tls_1k]}")
  [ "$code" = 2 ] || die "tollgate TLS does not negotiate h2"
  code=$(curl -sk --http2 --max-time 5 -o /dev/null -w '%{http_version}' "${URL[nginx_tls_1k]}")
  [ "$code" = 2 ] || die "nginx TLS does not negotiate h2"
  say "h2 negotiated by both TLS listeners"
}

# ---------------------------------------------------------------------------------------------
# 5. measurement

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }   # utime + stime
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
reset_hwm() { echo 5 > "/proc/$1/clear_refs" 2>/dev/null || true; }     # VmHWM := VmRSS
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
origin_requests() { curl -s --max-time 5 "http://127.0.0.1:$P_ORIGIN/__status" | awk '/^ *[0-9]+ +[0-9]+ +[0-9]+ *$/ {print $3}'; }
# CPU seconds of this shell's waited-for children (the load generator), from `times`, into the
# variable named $1. (`times` must run in this shell, not in a $(...) subshell, whose children
# times start at zero.)
children_cpu() {
  times > "$WORK/times"
  printf -v "$1" '%s' "$(awk 'NR == 2 { n = split($0, f, " "); s = 0
       for (i = 1; i <= n; i++) { split(f[i], t, /[ms]/); s += t[1] * 60 + t[2] } print s }' "$WORK/times")"
}

wait_for_idle() {
  [ "$IDLE_WAIT" -gt 0 ] || return 0
  log "waiting up to ${IDLE_WAIT}s for the 1-minute load average to drop below $IDLE_LOAD"
  local t=0 l
  while :; do
    l=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$l" -v m="$IDLE_LOAD" 'BEGIN {exit !(l < m)}'; then say "load $l: go"; return; fi
    if [ "$t" -ge "$IDLE_WAIT" ]; then say "load still $l after ${IDLE_WAIT}s: measuring anyway (see other_cpu_s in the CSV)"; return; fi
    sleep 10; t=$((t + 10))
  done
}

CSV_HEADER="round,case,target,gateway,tool,rate,unit,p50_ms,p99_ms,requests,bad_status,errors,seconds,gw_cpu_s,gw_cpu_per_work,work_unit,origin_cpu_s,origin_cpu_per_work,client_cpu_s,other_cpu_s,gw_case_hwm_kib,origin_seen,load1"

# Before/after bookkeeping around one measured run.
begin_run() { # gw_pid origin_pid(or -)
  R_GW=$1; R_OR=$2
  R_LOAD=$(cut -d' ' -f1 /proc/loadavg)
  reset_hwm "$R_GW"
  R_SEEN0=$(origin_requests)
  children_cpu R_CLI0
  R_BUSY0=$(busy_ticks)
  R_GW0=$(cpu_ticks "$R_GW")
  R_OR0=0; [ "$R_OR" = - ] || R_OR0=$(cpu_ticks "$R_OR")
}

end_run() { # round case target tool rate unit p50 p99 requests bad errors seconds work_div work_unit
  local gw1 or1=0 busy1 cli1 seen1 hwm
  gw1=$(cpu_ticks "$R_GW"); [ "$R_OR" = - ] || or1=$(cpu_ticks "$R_OR")
  busy1=$(busy_ticks); children_cpu cli1; hwm=$(hwm_kib "$R_GW")
  seen1=$(origin_requests)
  python3 - "$@" "$R_GW" "$((gw1 - R_GW0))" "$((or1 - R_OR0))" "$((busy1 - R_BUSY0))" \
      "$R_CLI0" "$cli1" "$hwm" "$((seen1 - R_SEEN0 - 1))" "$R_LOAD" "$CLK_TCK" \
      "$TG_PID" "$TG_TLS_PID" "$TG_BIG_PID" "$NGX_W" "$ORIGIN_W" >> "$OUT/latest.csv" <<'PY'
import sys
(rnd, case, target, tool, rate, unit, p50, p99, reqs, bad, errs, secs, work_div, work_unit,
 gw, gwt, ort, busyt, cli0, cli1, hwm, seen, load, tck, tg, tgs, tgb, ngx, org) = sys.argv[1:]
tck = float(tck)
gw_s, or_s, busy_s = int(gwt) / tck, int(ort) / tck, int(busyt) / tck
cli_s = float(cli1) - float(cli0)
div = float(work_div)
gateway = {tg: "tollgate", tgs: "tollgate-tls", tgb: "tollgate-1g", ngx: "nginx-securelink", org: "nginx-origin"}[gw]
per = lambda s: f"{s / div:.4f}" if div > 0 else ""
foreign = max(0.0, busy_s - gw_s - or_s - cli_s)
print(",".join(str(x) for x in [rnd, case, target, gateway, tool, rate, unit, p50, p99, reqs, bad,
      errs, secs, f"{gw_s:.2f}", per(gw_s), work_unit, f"{or_s:.2f}", per(or_s), f"{cli_s:.2f}",
      f"{foreign:.2f}", hwm, seen, load]))
PY
  tail -n1 "$OUT/latest.csv" | awk -F, '{printf "    %-6s %-18s %12s %-5s p99 %7s ms  gw cpu %6s s/%s  origin saw %s  other cpu %ss\n", $2, $3, $6, $7, $9, $15, $16, $22, $20}'
}

to_ms() { # wrk latency "1.23ms" -> 1.23
  awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub("us", "", v); print v / 1000 }
    else if (v ~ /ms$/) { sub("ms", "", v); print v + 0 }
    else if (v ~ /m$/) { sub("m", "", v); print v * 60000 }
    else if (v ~ /s$/) { sub("s", "", v); print v * 1000 } else print "" }'
}

run_wrk() { # round case target url conns gw_pid origin_pid
  local r=$1 c=$2 t=$3 url=$4 conns=$5 f="$WORK/raw/$2-$3-r$1.txt"
  begin_run "$6" "$7"
  timeout $((DURATION + 30)) wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 10s --latency "$url" > "$f" 2>&1 \
    || { cat "$f"; die "wrk failed for $c/$t"; }
  local rps reqs p50 p99 bad errs secs
  rps=$(awk '/^Requests\/sec/ {print $2}' "$f")
  reqs=$(awk '/ requests in / {print $1}' "$f")
  secs=$(awk '/ requests in / {s = $4; sub(",", "", s); sub("s", "", s); print s}' "$f")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$f")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")
  bad=$(awk '/Non-2xx or 3xx responses/ {print $NF}' "$f"); bad=${bad:-0}
  errs=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$f"); errs=${errs:-0}
  end_run "$r" "$c" "$t" wrk "$rps" req/s "$p50" "$p99" "$reqs" "$bad" "$errs" "$secs" \
    "$(awk -v n="$reqs" 'BEGIN {print n / 100000}')" 100k_req
}

run_h2load() { # round case target url gw_pid origin_pid
  local r=$1 c=$2 t=$3 url=$4 f="$WORK/raw/$2-$3-r$1.txt" lg="$WORK/raw/h2.log"
  begin_run "$5" "$6"
  rm -f "$lg"
  timeout $((DURATION + 30)) h2load -t1 -c64 -m10 -D "$DURATION" --log-file="$lg" "$url" > "$f" 2>&1 \
    || { cat "$f"; die "h2load failed for $c/$t"; }
  grep -qi "application protocol: h2" "$f" || { cat "$f"; die "h2load did not negotiate h2 with $t"; }
  local stats
  # finished in 10.00s, 54321.00 req/s, ...; requests: N total, N started, N done, N succeeded, N failed, N errored
  stats=$(python3 - "$f" "$lg" <<'PY'
import re, sys
out = open(sys.argv[1]).read()
m = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", out)
secs, rps = m.group(1), m.group(2)
m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out)
done, ok, failed, errored, tmo = (int(m.group(i)) for i in (3, 4, 5, 6, 7))
started = int(re.search(r"(\d+) started", out).group(1))
m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
bad = sum(int(m.group(i)) for i in (2, 3, 4)) if m else done
lat = sorted(int(l.split()[2]) for l in open(sys.argv[2]) if len(l.split()) >= 3)
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] / 1000 if lat else ""
print(rps, done, bad, failed + errored + tmo, secs, q(0.50), q(0.99), started)
PY
)
  local rps reqs bad errs secs p50 p99 started
  read -r rps reqs bad errs secs p50 p99 started <<< "$stats"
  rm -f "$lg"
  # h2load counts requests done inside the -D window; the servers also answered the ones in
  # flight at its end, so their CPU is divided by the requests started.
  end_run "$r" "$c" "$t" h2load "$rps" req/s "$p50" "$p99" "$reqs" "$bad" "$errs" "$secs" \
    "$(awk -v n="$started" 'BEGIN {print n / 100000}')" 100k_req
}

run_curl() { # round case target url gw_pid origin_pid
  local r=$1 c=$2 t=$3 url=$4 out
  # Every target reads the file from the page cache: this VM drops its cache when idle for a
  # while, and whichever target came first after the other cases read it from disk.
  cat "$WORK/data/1g.bin" > /dev/null
  begin_run "$5" "$6"
  out=$(curl -s --max-time 120 -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$url") \
    || die "curl failed for $c/$t"
  local code size secs mbps
  read -r code size secs <<< "$out"
  [ "$code" = 200 ] && [ "$size" = $((1 << 30)) ] || die "$c/$t: HTTP $code, $size bytes"
  mbps=$(awk -v s="$size" -v t="$secs" 'BEGIN {printf "%.1f", s / t / 1e6}')
  end_run "$r" "$c" "$t" curl "$mbps" MB/s "" "" 1 0 0 "$secs" 1 GiB
}

# The cases. Targets of one case run back to back (A B A B over rounds).
case_h1() {
  run_wrk "$1" h1_1k_64c nginx-direct   "${URL[origin_1k]}"  64 "$ORIGIN_W" -;          sleep 1
  run_wrk "$1" h1_1k_64c nginx-securelink "${URL[nginx_1k]}" 64 "$NGX_W" "$ORIGIN_W";    sleep 1
  run_wrk "$1" h1_1k_64c tollgate-http  "${URL[tg_http_1k]}" 64 "$TG_PID" "$ORIGIN_W";   sleep 1
  run_wrk "$1" h1_1k_64c tollgate-dir   "${URL[tg_dir_1k]}"  64 "$TG_PID" -;             sleep 1
  run_wrk "$1" h1_1k_64c nginx-securelink-dir "${URL[nginx_dir_1k]}" 64 "$NGX_W" -;     sleep 1
}
case_tls() {
  run_wrk "$1" tls_1k_64c nginx-securelink "${URL[nginx_tls_1k]}" 64 "$NGX_W" "$ORIGIN_W"; sleep 1
  run_wrk "$1" tls_1k_64c tollgate-http  "${URL[tg_tls_1k]}"  64 "$TG_TLS_PID" "$ORIGIN_W"; sleep 1
}
case_c1000() {
  run_wrk "$1" h1_1k_1000c nginx-securelink "${URL[nginx_1k]}" 1000 "$NGX_W" "$ORIGIN_W";  sleep 2
  run_wrk "$1" h1_1k_1000c tollgate-http  "${URL[tg_http_1k]}" 1000 "$TG_PID" "$ORIGIN_W"; sleep 2
}
case_badsig() {
  run_wrk "$1" badsig_64c nginx-securelink "${URL[nginx_bad]}" 64 "$NGX_W" "$ORIGIN_W";  sleep 1
  run_wrk "$1" badsig_64c tollgate-http  "${URL[tg_bad]}"    64 "$TG_PID" "$ORIGIN_W";   sleep 1
}
case_h2() {
  run_h2load "$1" h2_1k_64c_m10 nginx-securelink "${URL[nginx_tls_1k]}" "$NGX_W" "$ORIGIN_W"; sleep 1
  run_h2load "$1" h2_1k_64c_m10 tollgate-http  "${URL[tg_tls_1k]}" "$TG_TLS_PID" "$ORIGIN_W"; sleep 1
}
case_big() {
  run_curl "$1" get_1g nginx-direct     "${URL[origin_1g]}"  "$ORIGIN_W" -
  run_curl "$1" get_1g nginx-securelink "${URL[nginx_1g]}"   "$NGX_W" "$ORIGIN_W"
  run_curl "$1" get_1g nginx-securelink-bigbuf "${URL[nginx_big_1g]}" "$NGX_W" "$ORIGIN_W"
  run_curl "$1" get_1g tollgate-http    "${URL[tg_http_1g]}" "$TG_BIG_PID" "$ORIGIN_W"
  run_curl "$1" get_1g tollgate-dir     "${URL[tg_dir_1g]}"  "$TG_BIG_PID" -
}

warm_up() {
  log "5a. warm-up: 2 s of wrk per target, and one read of the 1 GiB file (page cache)"
  cat "$WORK/data/1g.bin" > /dev/null
  local u
  for u in "${URL[origin_1k]}" "${URL[nginx_1k]}" "${URL[tg_http_1k]}" "${URL[tg_dir_1k]}" "${URL[nginx_dir_1k]}" \
           "${URL[nginx_tls_1k]}" "${URL[tg_tls_1k]}"; do
    timeout 20 wrk -t1 -c64 -d2s "$u" > /dev/null 2>&1 || die "warm-up failed: $u"
  done
}

run_all() {
  mkdir -p "$OUT"
  echo "$CSV_HEADER" > "$OUT/latest.csv"
  wait_for_idle
  warm_up
  local r c start=$SECONDS
  for r in $(seq "$ROUNDS"); do
    log "5b. round $r of $ROUNDS (cases: $CASES)"
    for c in $CASES; do "case_$c" "$r"; done
  done
  say "measured in $((SECONDS - start)) s"
  mkdir -p "$OUT/tmp" && cp "$WORK"/raw/*.txt "$OUT/tmp/" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# 6. report

machine() {
  echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
}

# What the run was: written next to the CSV when it ends, so that REPORT_ONLY=1 can re-render
# the table and chart later from the same data.
write_meta() {
  local commit dirty
  commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$REPO" status --porcelain --untracked-files=no -- . ':!bench-results' 2>/dev/null | wc -l)
  {
    echo "machine=$(machine)"
    echo "commit=$commit (+$dirty modified tracked files at run time)"
    echo "command=ROUNDS=$ROUNDS DURATION=$DURATION benches/load/run.sh"
    echo "versions=$(nginx -v 2>&1 | sed 's|.*: ||'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), h2load $(h2load --version | awk '{print $NF}'), $("$BIN" --version 2>/dev/null || echo tollgate)"
    echo "duration=$DURATION"
    echo "rounds=$ROUNDS"
    echo "finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } > "$OUT/latest.meta"
}

report() {
  log "6. report: $OUT/latest.csv, $OUT/latest.md, $OUT/latest.png"
  [ -f "$OUT/latest.csv" ] && [ -f "$OUT/latest.meta" ] || die "no $OUT/latest.csv / latest.meta to report on"
  ROUNDS=$(sed -n 's/^rounds=//p' "$OUT/latest.meta")
  mkdir -p "$OUT/tmp"
  python3 - "$OUT" <<'PY'
import csv, statistics as st, sys
out = sys.argv[1]
meta = dict(l.rstrip("\n").split("=", 1) for l in open(f"{out}/latest.meta") if "=" in l)
machine, commit, command, versions, DUR = meta["machine"], meta["commit"], meta["command"], meta["versions"], meta["duration"]
rows = list(csv.DictReader(open(f"{out}/latest.csv")))
def med(case, target, col):
    v = [float(r[col]) for r in rows if r["case"] == case and r["target"] == target and r[col] != ""]
    return st.median(v) if v else None
def mx(case, target, col):
    v = [float(r[col]) for r in rows if r["case"] == case and r["target"] == target and r[col] != ""]
    return max(v) if v else None
rounds = max(int(r["round"]) for r in rows)

CASES = [  # case, title, [(target, label)]
    ("h1_1k_64c", "1 KiB signed GET, HTTP/1.1, 64 conns (wrk)",
     [("nginx-direct", "nginx direct (origin, no check)"), ("nginx-securelink", "nginx secure_link + proxy"),
      ("tollgate-http", "tollgate http route"), ("tollgate-dir", "tollgate dir route"),
      ("nginx-securelink-dir", "nginx secure_link serving the folder itself (no proxy)")]),
    ("tls_1k_64c", "1 KiB, TLS 1.3 keep-alive, HTTP/1.1, 64 conns (wrk)",
     [("nginx-securelink", "nginx secure_link + proxy"), ("tollgate-http", "tollgate http route")]),
    ("h1_1k_1000c", "1 KiB, HTTP/1.1, 1000 conns (wrk)",
     [("nginx-securelink", "nginx secure_link + proxy"), ("tollgate-http", "tollgate http route")]),
    ("badsig_64c", "bad signature (403), HTTP/1.1, 64 conns (wrk)",
     [("nginx-securelink", "nginx secure_link"), ("tollgate-http", "tollgate http route")]),
    ("h2_1k_64c_m10", "1 KiB, HTTP/2 over TLS, 64 conns x 10 streams (h2load)",
     [("nginx-securelink", "nginx secure_link + proxy"), ("tollgate-http", "tollgate http route")]),
    ("get_1g", "1 GiB signed download, one stream (curl)",
     [("nginx-direct", "nginx direct (sendfile)"), ("nginx-securelink", "nginx secure_link + proxy"),
      ("nginx-securelink-bigbuf", "nginx secure_link + proxy, 8 x 256k buffers"),
      ("tollgate-http", "tollgate http route"), ("tollgate-dir", "tollgate dir route")]),
]
f = lambda v, d=0: "" if v is None else f"{v:,.{d}f}"

md = []
md.append(f"Medians of {rounds} round(s), finished {meta['finished']}. Machine: {machine}. Commit {commit}. Versions: {versions}.\n")
md.append(f"Command: `{command}`\n")
md.append("Ratios (x) are tollgate / nginx secure_link in the same case; for the 1 GiB dir route, tollgate / nginx direct "
          "sendfile, and for the 1 GiB http route, tollgate / the faster of the two nginx proxy configurations. CPU is the "
          "gateway process's utime + stime per 100k requests (per GiB for downloads); origin CPU is the origin nginx worker's.\n")
md.append("| case | target | rate | x | range over rounds | p50 ms | p99 ms | x | gateway CPU s | x | origin CPU s | peak RSS MiB | origin saw | non-2xx |")
md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
def comparator(case, target):
    if not target.startswith("tollgate"):
        return None
    if case == "get_1g" and target == "tollgate-dir":
        return "nginx-direct"
    if case == "get_1g":
        return max(("nginx-securelink", "nginx-securelink-bigbuf"), key=lambda t: med(case, t, "rate") or 0)
    return "nginx-securelink"
def x(case, target, col):
    ref = comparator(case, target)
    a, b = med(case, target, col), (med(case, ref, col) if ref else None)
    return "" if a is None or not b else f"{a / b:.2f}x"
for case, title, targets in CASES:
    if not any(r["case"] == case for r in rows):
        continue
    for target, label in targets:
        if med(case, target, "rate") is None:
            continue
        unit = next(r["unit"] for r in rows if r["case"] == case)
        wu = "/100k req" if unit == "req/s" else "/GiB"
        reqs = med(case, target, "requests")
        seen = med(case, target, "origin_seen")
        hwm = mx(case, target, "gw_case_hwm_kib")
        lo = min(float(r["rate"]) for r in rows if r["case"] == case and r["target"] == target)
        md.append(f"| {title} | {label} | {f(med(case, target, 'rate'))} {unit} | {x(case, target, 'rate')} | {f(lo)}–{f(mx(case, target, 'rate'))} | "
                  f"{f(med(case, target, 'p50_ms'), 2)} | {f(med(case, target, 'p99_ms'), 2)} | {x(case, target, 'p99_ms')} | "
                  f"{f(med(case, target, 'gw_cpu_per_work'), 2)} {wu} | {x(case, target, 'gw_cpu_per_work')} | "
                  f"{f(med(case, target, 'origin_cpu_per_work'), 2)} | {f(hwm / 1024 if hwm else None, 1)} | "
                  f"{f(seen)} of {f(reqs)} | {f(med(case, target, 'bad_status'))} |")

# Ratios against the issue's targets. (name, numerator, denominator, goal, higher_is_better)
def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b
goals = [
    ("1 KiB h1 64c req/s: tollgate http / nginx secure_link", ratio(med("h1_1k_64c", "tollgate-http", "rate"), med("h1_1k_64c", "nginx-securelink", "rate")), ">=", 1.2),
    ("1 KiB h1 64c req/s: tollgate dir / nginx secure_link", ratio(med("h1_1k_64c", "tollgate-dir", "rate"), med("h1_1k_64c", "nginx-securelink", "rate")), ">=", 1.2),
    ("1 KiB h1 64c p99: tollgate http / nginx secure_link", ratio(med("h1_1k_64c", "tollgate-http", "p99_ms"), med("h1_1k_64c", "nginx-securelink", "p99_ms")), "<=", 1.0),
    ("1 KiB h1 64c p99: tollgate dir / nginx secure_link", ratio(med("h1_1k_64c", "tollgate-dir", "p99_ms"), med("h1_1k_64c", "nginx-securelink", "p99_ms")), "<=", 1.0),
    ("1 KiB h1 64c gateway CPU/req: tollgate http / nginx secure_link", ratio(med("h1_1k_64c", "tollgate-http", "gw_cpu_per_work"), med("h1_1k_64c", "nginx-securelink", "gw_cpu_per_work")), "<=", 1.0),
    ("1 KiB h1 64c gateway CPU/req: tollgate dir / nginx secure_link", ratio(med("h1_1k_64c", "tollgate-dir", "gw_cpu_per_work"), med("h1_1k_64c", "nginx-securelink", "gw_cpu_per_work")), "<=", 1.0),
    ("1 KiB h1 64c req/s: tollgate dir / nginx secure_link serving the folder itself (info)", ratio(med("h1_1k_64c", "tollgate-dir", "rate"), med("h1_1k_64c", "nginx-securelink-dir", "rate")), None, None),
    ("1 KiB h1 64c p99: tollgate dir / nginx secure_link serving the folder itself (info)", ratio(med("h1_1k_64c", "tollgate-dir", "p99_ms"), med("h1_1k_64c", "nginx-securelink-dir", "p99_ms")), None, None),
    ("1 KiB h1 64c CPU/req: tollgate dir / nginx secure_link serving the folder itself (info)", ratio(med("h1_1k_64c", "tollgate-dir", "gw_cpu_per_work"), med("h1_1k_64c", "nginx-securelink-dir", "gw_cpu_per_work")), None, None),
    ("1 KiB TLS 64c req/s: tollgate / nginx", ratio(med("tls_1k_64c", "tollgate-http", "rate"), med("tls_1k_64c", "nginx-securelink", "rate")), ">=", 1.0),
    ("1 KiB h1 1000c req/s: tollgate / nginx", ratio(med("h1_1k_1000c", "tollgate-http", "rate"), med("h1_1k_1000c", "nginx-securelink", "rate")), ">=", 1.0),
    ("1 KiB h2 (TLS) req/s: tollgate / nginx", ratio(med("h2_1k_64c_m10", "tollgate-http", "rate"), med("h2_1k_64c_m10", "nginx-securelink", "rate")), ">=", 1.0),
    ("bad signature req/s: tollgate bad / tollgate valid (http, 64c)", ratio(med("badsig_64c", "tollgate-http", "rate"), med("h1_1k_64c", "tollgate-http", "rate")), ">=", 2.0),
    ("bad signature req/s: tollgate / nginx (info)", ratio(med("badsig_64c", "tollgate-http", "rate"), med("badsig_64c", "nginx-securelink", "rate")), None, None),
    ("1 GiB MB/s: tollgate http / nginx secure_link proxy (default buffers)", ratio(med("get_1g", "tollgate-http", "rate"), med("get_1g", "nginx-securelink", "rate")), None, None),
    ("1 GiB MB/s: tollgate http / nginx secure_link proxy (best of default and 256k buffers)", ratio(med("get_1g", "tollgate-http", "rate"), max(med("get_1g", "nginx-securelink", "rate") or 0, med("get_1g", "nginx-securelink-bigbuf", "rate") or 0)), ">=", 1.2),
    ("1 GiB MB/s: tollgate dir / nginx direct sendfile", ratio(med("get_1g", "tollgate-dir", "rate"), med("get_1g", "nginx-direct", "rate")), ">=", 0.8),
]
seen_bad = [int(r["origin_seen"]) for r in rows if r["case"] == "badsig_64c" and r["target"] == "tollgate-http"]
hwm = [float(r["gw_case_hwm_kib"]) for r in rows if r["gateway"].startswith("tollgate")]
hwm_1g = [float(r["gw_case_hwm_kib"]) for r in rows if r["case"] == "get_1g" and r["gateway"].startswith("tollgate")]
md.append("\n| target from issue 5 | measured | goal | |")
md.append("|---|---:|---:|---|")
for name, v, op, goal in goals:
    if v is None:
        continue
    ok = "" if op is None else ("met" if (v >= goal if op == ">=" else v <= goal) else "**missed**")
    md.append(f"| {name} | {v:.2f}x | {'' if op is None else f'{op} {goal}x'} | {ok} |")
if seen_bad:
    md.append(f"| origin requests caused by tollgate's bad-signature runs | {max(seen_bad)} | 0 | {'met' if max(seen_bad) == 0 else '**missed**'} |")
if hwm_1g:
    md.append(f"| tollgate peak RSS during the 1 GiB downloads (http and dir routes) | {max(hwm_1g) / 1024:.1f} MiB | < 64 MiB | {'met' if max(hwm_1g) < 64 * 1024 else '**missed**'} |")
if hwm:
    md.append(f"| tollgate peak RSS, any case (info: the 1000-connection case) | {max(hwm) / 1024:.1f} MiB | | |")
peaks = {}
for r in rows:
    peaks[r["gateway"]] = max(peaks.get(r["gateway"], 0), int(r["gw_case_hwm_kib"]))
md.append("\nPeak RSS per process (VmHWM, reset with `clear_refs` before each run, max over the runs it served): "
          + ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in sorted(peaks.items())) + ". Resetting sets VmHWM to the "
          "current RSS, so a process that keeps memory after a case (tollgate after the 1000-connection case) shows that "
          "retained memory in the cases that follow; round 1's rows, in case order, show the growth. tollgate-1g serves "
          "only the 1 GiB downloads, so its peak is theirs.")
foreign = [float(r["other_cpu_s"]) for r in rows]
md.append(f"\nCPU time during each measured run not charged to the server processes or the load generator "
          f"(`other_cpu_s` in the CSV: other jobs on the shared VM, plus kernel network work done in softirq context): "
          f"median {st.median(foreign):.2f} s, max {max(foreign):.2f} s per run of {DUR} s.")
open(f"{out}/latest.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))

# Data for the chart: one line per (panel, case) with nginx and tollgate values.
def pair(case, col, ng="nginx-securelink", tg="tollgate-http"):
    return med(case, ng, col), med(case, tg, col)
with open(f"{out}/tmp/chart.dat", "w") as d:
    for idx, (col, items) in enumerate([
        ("rate", [("h1 64c", "h1_1k_64c", "nginx-securelink", "tollgate-http"),
                  ("h1 64c dir", "h1_1k_64c", "nginx-securelink", "tollgate-dir"),
                  ("dir vs nginx dir", "h1_1k_64c", "nginx-securelink-dir", "tollgate-dir"),
                  ("TLS 64c", "tls_1k_64c", "nginx-securelink", "tollgate-http"),
                  ("h1 1000c", "h1_1k_1000c", "nginx-securelink", "tollgate-http"),
                  ("h2 TLS", "h2_1k_64c_m10", "nginx-securelink", "tollgate-http"),
                  ("bad sig", "badsig_64c", "nginx-securelink", "tollgate-http")]),
        ("p99_ms", [("h1 64c", "h1_1k_64c", "nginx-securelink", "tollgate-http"),
                    ("h1 64c dir", "h1_1k_64c", "nginx-securelink", "tollgate-dir"),
                    ("TLS 64c", "tls_1k_64c", "nginx-securelink", "tollgate-http"),
                    ("h1 1000c", "h1_1k_1000c", "nginx-securelink", "tollgate-http"),
                    ("h2 TLS", "h2_1k_64c_m10", "nginx-securelink", "tollgate-http"),
                    ("bad sig", "badsig_64c", "nginx-securelink", "tollgate-http")]),
        ("gw_cpu_per_work", [("h1 64c", "h1_1k_64c", "nginx-securelink", "tollgate-http"),
                             ("h1 64c dir", "h1_1k_64c", "nginx-securelink", "tollgate-dir"),
                             ("TLS 64c", "tls_1k_64c", "nginx-securelink", "tollgate-http"),
                             ("h1 1000c", "h1_1k_1000c", "nginx-securelink", "tollgate-http"),
                             ("h2 TLS", "h2_1k_64c_m10", "nginx-securelink", "tollgate-http"),
                             ("bad sig", "badsig_64c", "nginx-securelink", "tollgate-http")]),
        ("rate", [("http route vs proxy", "get_1g", "nginx-securelink", "tollgate-http"),
                  ("http route vs proxy 256k", "get_1g", "nginx-securelink-bigbuf", "tollgate-http"),
                  ("dir route vs sendfile", "get_1g", "nginx-direct", "tollgate-dir")]),
    ]):
        d.write(f"# panel {idx}: {col}\n")
        for label, case, ng, tg in items:
            a, b = pair(case, col, ng, tg)
            if a is None or b is None:
                continue
            d.write(f'"{label}" {a} {b}\n')
        d.write("\n\n")
PY
  chart
}

chart() {
  if gnuplot <<EOF
set terminal pngcairo size 1400,1000 font "sans,10"
set output "$OUT/latest.png"
set multiplot layout 2,2 title "tollgate vs nginx secure\\\\_link (medians of $ROUNDS rounds; $(nproc) cores, loopback)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right
set xtics rotate by -20 scale 0
set yrange [0:*]
set offsets 0, 0, graph 0.16, 0
set label 1 "labels: tollgate / nginx" at graph 0.01, graph 0.96 font ",8"
set title "1 KiB requests/s (higher is better)"
set format y "%.0s%c"
plot "$OUT/tmp/chart.dat" index 0 using 2:xtic(1) title "nginx" lc rgb "#2b8a3e", \
     "" index 0 using 3 title "tollgate" lc rgb "#1c7ed6", \
     "" index 0 using (\$0 + 0.17):3:(sprintf("%.2fx", \$3 / \$2)) with labels offset 0,0.8 font ",9" notitle
set title "p99 latency, ms (lower is better)"
set format y "%g"
plot "$OUT/tmp/chart.dat" index 1 using 2:xtic(1) title "nginx" lc rgb "#2b8a3e", \
     "" index 1 using 3 title "tollgate" lc rgb "#1c7ed6", \
     "" index 1 using (\$0 + 0.17):3:(sprintf("%.2fx", \$3 / \$2)) with labels offset 0,0.8 font ",9" notitle
set title "gateway CPU seconds per 100k requests (lower is better)"
plot "$OUT/tmp/chart.dat" index 2 using 2:xtic(1) title "nginx" lc rgb "#2b8a3e", \
     "" index 2 using 3 title "tollgate" lc rgb "#1c7ed6", \
     "" index 2 using (\$0 + 0.17):3:(sprintf("%.2fx", \$3 / \$2)) with labels offset 0,0.8 font ",9" notitle
set title "1 GiB download, MB/s (higher is better)"
plot "$OUT/tmp/chart.dat" index 3 using 2:xtic(1) title "nginx" lc rgb "#2b8a3e", \
     "" index 3 using 3 title "tollgate" lc rgb "#1c7ed6", \
     "" index 3 using (\$0 + 0.17):3:(sprintf("%.2fx", \$3 / \$2)) with labels offset 0,0.8 font ",9" notitle
unset multiplot
EOF
  then say "chart: $OUT/latest.png"
  else say "gnuplot could not draw every panel (a CASES subset leaves some empty); the table and CSV are complete"
  fi
}

# ---------------------------------------------------------------------------------------------

main() {
  if [ "${REPORT_ONLY:-0}" = 1 ]; then report; return; fi   # re-render from $OUT/latest.{csv,meta}
  install_deps
  build
  check_ports
  make_data
  start_servers
  sign_urls
  run_all
  write_meta
  report
}

main "$@"
