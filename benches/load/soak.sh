#!/usr/bin/env bash
# Soak test of tollgate's connection deadlines (src/server/guard.rs) under slow-client attack.
#
#   benches/load/soak.sh                       # DURATION=20 (s of wrk per run)
#   DURATION=60 SILENT=2000 SLOW=2000 benches/load/soak.sh
#
# Plain HTTP on 127.0.0.1, a release build, a `dir` route with filters ["signature"] over a
# 1 KiB and a 64 MiB file, header_read_timeout = send_timeout = 10s, idle_timeout = 60s,
# max_connections = 20000:
#   1. baseline: wrk -t1 -c64 -d${DURATION}s --latency on a signed 1 KiB URL: req/s and p99;
#   2. attack: benches/load/soak_attack.py holds SILENT silent TCP connections (connect, send
#      nothing) and SLOW slow readers (a valid signed GET for the 64 MiB file, then read
#      nothing, SO_RCVBUF 4 KiB, MSS 1460), re-opening every one the gateway closes so the pressure is
#      constant, while the same wrk runs. Measures valid req/s and p99 under attack, the
#      gateway's peak RSS (VmHWM, and VmRSS sampled every 0.5 s), the CPU of the gateway, wrk
#      and the attacker, and from the attacker: sockets opened, closed by the gateway, and the
#      open-to-close time of each kind (should be the deadline, not more than 2 s late);
#   3. prints a results table and writes it to $OUT/soak-latest.md.
#
# Knobs: DURATION (20), SILENT (1000), SLOW (1000), WARMUP (5: seconds of attack before wrk
# starts, once the gateway holds them all, so the slow readers are parked on full buffers),
# MSS (1460: the TCP MSS the attackers announce, an Internet client's; 0 = loopback's 65483,
# with which Linux autotunes every slow reader's send buffer on the gateway's side to ~2.7 MB
# of kernel memory instead of ~65 KB), OUT (bench-results),
# SKIP_BUILD (0; 1 = use target/release/tollgate as is), IDLE_WAIT (120: seconds to wait, at
# most, for a 1-minute load average below IDLE_LOAD=1.0 before measuring; 0 = don't wait).
# Installs wrk from Debian if missing. Every loop is bounded in count and time; everything
# started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)

DURATION=${DURATION:-20}
SILENT=${SILENT:-1000}
SLOW=${SLOW:-1000}
WARMUP=${WARMUP:-5}
MSS=${MSS:-1460}
OUT=${OUT:-bench-results}
SKIP_BUILD=${SKIP_BUILD:-0}
IDLE_WAIT=${IDLE_WAIT:-120}
IDLE_LOAD=${IDLE_LOAD:-1.0}
HEADER_READ_TIMEOUT=10   # seconds; the config below and the attacker's expectations
SEND_TIMEOUT=10
IDLE_TIMEOUT=60
GRACE=2                  # a close more than GRACE s after its deadline counts as late

BIN=$REPO/target/release/tollgate
WORK=""
STARTED=()               # pids of every process this script started in the background
CLK_TCK=$(getconf CLK_TCK)

log() { printf '\n[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
say() { printf '    %s\n' "$*"; }
die() { printf 'soak.sh: %s\n' "$*" >&2; exit 1; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ ${#STARTED[@]} -gt 0 ]; then
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
log "1. dependencies, build, limits"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v python3 >/dev/null || die "python3 is needed (stdlib only)"
command -v curl >/dev/null || die "curl is needed"
if [ "$SKIP_BUILD" = 1 ] && [ -x "$BIN" ]; then
  say "SKIP_BUILD=1: using $BIN as is"
else
  nice -n 10 cargo build --release 2>&1 | tail -n 2
fi
[ -x "$BIN" ] || die "no $BIN after the build"
# The gateway and the attacker each hold SILENT + SLOW sockets (plus a file per slow reader).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
need=$(( (SILENT + SLOW) * 2 + 1000 ))
[ "$(ulimit -n)" -ge "$need" ] || die "ulimit -n is $(ulimit -n), need $need (hard limit $(ulimit -Hn))"
say "wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), $(python3 --version), ulimit -n $(ulimit -n)"

# ---------------------------------------------------------------------------------------------
log "2. data, config, gateway"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-soak.XXXXXX")
mkdir -p "$WORK/files" "$OUT"
head -c 1024 /dev/urandom > "$WORK/files/1k.bin"
dd if=/dev/urandom of="$WORK/files/64m.bin" bs=1M count=64 status=none
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(port); A=$(port)
cat > "$WORK/t.toml" <<TOML
public_url = "http://127.0.0.1:$P"
[server]
listen = "127.0.0.1:$P"
max_connections = 20000
header_read_timeout = "${HEADER_READ_TIMEOUT}s"
send_timeout = "${SEND_TIMEOUT}s"
idle_timeout = "${IDLE_TIMEOUT}s"
[admin]
listen = "127.0.0.1:$A"
[state]
backend = "embedded"
path = "$WORK/state"
[[keys]]
id = "k1"
secret = "$($BIN keygen)"
[[origins]]
name = "files"
kind = "dir"
root = "$WORK/files"
[[routes]]
prefix = "/files/"
origin = "files"
filters = ["signature"]
TOML
$BIN check --config "$WORK/t.toml" >/dev/null 2>&1 || { $BIN check --config "$WORK/t.toml" || true; die "config refused"; }
TOLLGATE_LOG=warn $BIN serve --config "$WORK/t.toml" 2>"$WORK/gateway.log" &
GW=$!
STARTED+=("$GW")
for _ in $(seq 100); do
  curl -fs --max-time 1 "http://127.0.0.1:$A/readyz" >/dev/null 2>&1 && break
  kill -0 "$GW" 2>/dev/null || { cat "$WORK/gateway.log" >&2; die "gateway exited"; }
  sleep 0.1
done
curl -fs --max-time 1 "http://127.0.0.1:$A/readyz" >/dev/null || die "gateway never became ready"
U1=$($BIN sign --config "$WORK/t.toml" --path /files/1k.bin)
UBIG=$($BIN sign --config "$WORK/t.toml" --path /files/64m.bin)
curl -fs --max-time 10 -o "$WORK/probe" "$U1" && cmp -s "$WORK/probe" "$WORK/files/1k.bin" || die "1 KiB signed GET failed"
curl -fs --max-time 30 -o "$WORK/probe" "$UBIG" && cmp -s "$WORK/probe" "$WORK/files/64m.bin" || die "64 MiB signed GET failed"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "${U1%%\?*}")
case "$code" in 4??) ;; *) die "an unsigned GET got $code, expected a refusal (4xx)";; esac
rm -f "$WORK/probe"
say "gateway pid $GW on 127.0.0.1:$P (admin $A); signed 1 KiB and 64 MiB GETs ok, unsigned refused ($code)"

# ---------------------------------------------------------------------------------------------
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }   # utime + stime
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }      # VmHWM, VmRSS
metrics() { curl -s --max-time 5 "http://127.0.0.1:$A/metrics" > "$1" || true; }
# Kernel TCP counters (whole host) that explain a late or lost connection: accept queue
# overflows, SYN cookies, TCP memory pressure.
kernel_counters() {
  python3 - <<'PY'
lines = open("/proc/net/netstat").read().splitlines()
for h, v in zip(lines[::2], lines[1::2]):
    if h.startswith("TcpExt:"):
        d = dict(zip(h.split()[1:], v.split()[1:]))
        for k in ("ListenOverflows", "ListenDrops", "SyncookiesSent", "SyncookiesRecv", "TCPMemoryPressures", "TCPAbortOnMemory"):
            print(k, d.get(k, 0))
PY
}
# CPU seconds of this shell's waited-for children, from `times`, into the variable named $1
# (run in this shell, not a subshell: see run.sh).
children_cpu() {
  times > "$WORK/times"
  printf -v "$1" '%s' "$(awk 'NR == 2 { n = split($0, f, " "); s = 0
       for (i = 1; i <= n; i++) { split(f[i], t, /[ms]/); s += t[1] * 60 + t[2] } print s }' "$WORK/times")"
}

run_wrk() { # name -> $WORK/<name>.wrk, $WORK/<name>.cpu (gateway s, wrk s, busy s, wall s)
  local g0 g1 b0 b1 c0 c1 t0 t1
  g0=$(cpu_ticks "$GW"); b0=$(busy_ticks); children_cpu c0; t0=$(date +%s.%N)
  # --timeout 10s: wrk's default (2 s) would drop slower requests from the latency figures.
  timeout $((DURATION + 30)) wrk -t1 -c64 -d"${DURATION}s" --timeout 10s --latency "$U1" > "$WORK/$1.wrk" 2>&1 \
    || { cat "$WORK/$1.wrk"; die "wrk failed ($1)"; }
  g1=$(cpu_ticks "$GW"); b1=$(busy_ticks); children_cpu c1; t1=$(date +%s.%N)
  echo "$(( g1 - g0 )) $c0 $c1 $(( b1 - b0 )) $t0 $t1" > "$WORK/$1.cpu"
  grep -E "Requests/sec| 99%|Non-2xx|Socket errors" "$WORK/$1.wrk" | sed 's/^/    /'
}

wait_for_idle() {
  [ "$IDLE_WAIT" -gt 0 ] || return 0
  local t=0 l
  while :; do
    l=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$l" -v m="$IDLE_LOAD" 'BEGIN {exit !(l < m)}'; then say "load average $l: go"; return; fi
    if [ "$t" -ge "$IDLE_WAIT" ]; then say "load average still $l after ${IDLE_WAIT}s: measuring anyway (see 'other' CPU below)"; return; fi
    sleep 5; t=$((t + 5))
  done
}
log "3. baseline: wrk -t1 -c64 -d${DURATION}s --latency, signed 1 KiB GET"
wait_for_idle
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
run_wrk baseline
HWM_BASE=$(status_kib "$GW" VmHWM)
metrics "$WORK/m0.txt"

# ---------------------------------------------------------------------------------------------
log "4. attack: $SILENT silent + $SLOW slow readers, re-opened as closed, then the same wrk"
kernel_counters > "$WORK/k0.txt"
PRESSURE=$((WARMUP + DURATION + 2))                # attackers stay constant this long
DRAIN=$(( (HEADER_READ_TIMEOUT > SEND_TIMEOUT ? HEADER_READ_TIMEOUT : SEND_TIMEOUT) + GRACE + 5 ))
python3 "$REPO/benches/load/soak_attack.py" --port "$P" --path "${UBIG#http://127.0.0.1:$P}" \
  --silent "$SILENT" --slow "$SLOW" --mss "$MSS" --duration "$PRESSURE" --drain "$DRAIN" \
  --header-read-timeout "$HEADER_READ_TIMEOUT" --send-timeout "$SEND_TIMEOUT" --grace "$GRACE" \
  --ready-file "$WORK/ready" --out "$WORK/attack.json" > "$WORK/attack.log" 2>&1 &
ATK=$!
STARTED+=("$ATK")
for _ in $(seq 300); do [ -e "$WORK/ready" ] && break; kill -0 "$ATK" 2>/dev/null || break; sleep 0.1; done
[ -e "$WORK/ready" ] || { cat "$WORK/attack.log" >&2; die "the attackers never all connected"; }
# Connected on the attacker's side is not yet accepted by the gateway: wait (bounded) until
# the gateway holds 98% of them.
T_READY0=$(date +%s.%N)
for _ in $(seq 150); do
  o=$(curl -s --max-time 1 "http://127.0.0.1:$A/metrics" | awk '$1 == "tollgate_connections_open" {print $2}') || true
  [ "${o:-0}" -ge $(( (SILENT + SLOW) * 98 / 100 )) ] && break
  sleep 0.2
done
ACCEPT_WAIT=$(awk -v a="$T_READY0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
say "all $((SILENT + SLOW)) attackers connected; the gateway holds ${o:-?} connections ${ACCEPT_WAIT}s later; ${WARMUP}s warm-up"

# Sampler: gateway VmRSS and open connections every 0.5 s while the attacker runs (bounded).
(
  for _ in $(seq $(( (PRESSURE + DRAIN + 10) * 2 ))); do
    kill -0 "$ATK" 2>/dev/null || break
    o=$(curl -s --max-time 1 "http://127.0.0.1:$A/metrics" | awk '$1 == "tollgate_connections_open" {print $2}') || true
    echo "$(date +%s.%N) $(status_kib "$GW" VmRSS) ${o:--} $(awk '$1 == "TCP:" {print $NF}' /proc/net/sockstat)"
    sleep 0.5
  done
) > "$WORK/samples.txt" 2>/dev/null &
SAMPLER=$!
STARTED+=("$SAMPLER")
sleep "$WARMUP"
LOAD1=$(cut -d' ' -f1 /proc/loadavg)
A0=$(cpu_ticks "$ATK")
run_wrk attack
A1=$(cpu_ticks "$ATK")
metrics "$WORK/m1.txt"
say "wrk done; attackers stop being re-opened $((PRESSURE - WARMUP - DURATION))s later, then up to ${DRAIN}s for the last ones to be closed"
wait "$ATK" || { cat "$WORK/attack.log" >&2; die "attacker failed"; }
wait "$SAMPLER" 2>/dev/null || true
metrics "$WORK/m2.txt"
kernel_counters > "$WORK/k1.txt"
HWM_END=$(status_kib "$GW" VmHWM)
RSS_END=$(status_kib "$GW" VmRSS)

# ---------------------------------------------------------------------------------------------
log "5. results"
python3 - "$WORK" "$OUT/soak-latest.md" "$CLK_TCK" "$HWM_BASE" "$HWM_END" "$RSS_END" "$A0" "$A1" \
    "$LOAD0 / $LOAD1" "$MSS" "$ACCEPT_WAIT" "$(awk '{print $2}' /proc/sys/net/ipv4/tcp_mem)" "$SILENT" "$SLOW" "$DURATION" "$WARMUP" "$GRACE" "$HEADER_READ_TIMEOUT" "$SEND_TIMEOUT" \
    "$IDLE_TIMEOUT" "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)" \
    "$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(uname -r)" <<'PY'
import json, re, sys, time
(work, md_path, tck, hwm_base, hwm_end, rss_end, a0, a1, load0, mss, accept_wait, tcp_mem_pressure, silent, slow, duration, warmup,
 grace, hrt, st, it, commit, dirty, machine) = sys.argv[1:]
tck = float(tck)

def wrk(name):
    t = open(f"{work}/{name}.wrk").read()
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", t)
    reqs, secs = int(m.group(1)), float(m.group(2)) * (60 if m.group(3) == "m" else 1)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    bad = int(bad.group(1)) if bad else 0
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    errs = sum(int(x) for x in e.groups()) if e else 0
    def ms(v):
        n, u = re.match(r"([\d.]+)(us|ms|s|m)", v).groups()
        return float(n) * {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4}[u]
    p = {k: ms(v) for k, v in re.findall(r"^\s+(50|99)%\s+(\S+)", t, re.M)}
    g, c0, c1, busy, t0, t1 = open(f"{work}/{name}.cpu").read().split()
    wall = float(t1) - float(t0)
    return {"valid_rps": (reqs - bad) / secs, "reqs": reqs, "bad": bad, "errs": errs,
            "p50": p.get("50"), "p99": p.get("99"), "gw_cpu": int(g) / tck,
            "wrk_cpu": float(c1) - float(c0), "busy": int(busy) / tck, "wall": wall}

def metrics(n):
    out = {}
    try:
        for line in open(f"{work}/{n}.txt"):
            m = re.match(r'tollgate_connections_closed_total\{reason="(\w+)"\} (\d+)', line)
            if m:
                out[m.group(1)] = int(m.group(2))
            m = re.match(r"tollgate_connections_(open|total) (\d+)", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    except OSError:
        pass
    return out

b, a = wrk("baseline"), wrk("attack")
atk = json.load(open(f"{work}/attack.json"))
m0, m1, m2 = metrics("m0"), metrics("m1"), metrics("m2")
samples = [l.split() for l in open(f"{work}/samples.txt") if len(l.split()) >= 2]
rss_max = max((int(s[1]) for s in samples), default=0)
open_max = max((int(s[2]) for s in samples if len(s) > 2 and s[2] != "-"), default=None)
tcp_pages = max((int(s[3]) for s in samples if len(s) > 3), default=0)
kc = lambda n: {l.split()[0]: int(l.split()[1]) for l in open(f"{work}/{n}.txt")}
k0, k1 = kc("k0"), kc("k1")
kd = {k: k1[k] - k0.get(k, 0) for k in k1}
hwm = max(int(hwm_end), rss_max)
ratio = a["valid_rps"] / b["valid_rps"]
atk_cpu = (int(a1) - int(a0)) / tck
hrt, st, grace = float(hrt), float(st), float(grace)

def closed_ok(k, deadline):
    s = atk[k]
    d = s["close_s"] or {}
    all_closed = s["closed_by_us_at_end"] == 0 and s["opened"] == s["closed_by_gateway"]
    in_time = s["late_count"] == 0 and d.get("max", 1e9) <= deadline + grace
    return all_closed and in_time

def left(s):
    g = s.get("open_at_end_gateway_side") or {}
    if not g:
        return ""
    return " (gateway side of those: " + ", ".join(
        f"{n} {'no socket: never reached the gateway' if k == 'none' else k}" for k, v in sorted(g.items()) for n in [v]) + ")"

def fmt_d(d):
    return "–" if not d else f"min {d['min']:.2f} / median {d['median']:.2f} / p99 {d['p99']:.2f} / max {d['max']:.2f} s"

ok = lambda c: "met" if c else "**missed**"
sil, slo = atk["silent"], atk["slow"]
rows = [
    ("valid req/s, baseline (no attack)", f"{b['valid_rps']:,.0f}", "", ""),
    ("valid req/s, under attack", f"{a['valid_rps']:,.0f}", "", ""),
    ("ratio under attack / baseline", f"{ratio:.2f}", "≥ 0.80", ok(ratio >= 0.80)),
    ("p99 latency, baseline", f"{b['p99']:.2f} ms", "", ""),
    ("p99 latency, under attack", f"{a['p99']:.2f} ms", "", ""),
    ("p50 latency, baseline / under attack", f"{b['p50']:.2f} / {a['p50']:.2f} ms", "", ""),
    ("wrk non-2xx / socket errors, baseline", f"{b['bad']} / {b['errs']}", "0 / 0", ok(b['bad'] + b['errs'] == 0)),
    ("wrk non-2xx / socket errors, under attack", f"{a['bad']} / {a['errs']}", "0 / 0", ok(a['bad'] + a['errs'] == 0)),
    ("gateway peak RSS (VmHWM over its life; max sampled VmRSS)",
     f"{hwm / 1024:.1f} MiB ({int(hwm_end) / 1024:.1f}; {rss_max / 1024:.1f})", "< 128 MiB", ok(hwm < 128 * 1024)),
    ("gateway VmHWM after baseline / VmRSS at end", f"{int(hwm_base) / 1024:.1f} / {int(rss_end) / 1024:.1f} MiB", "", ""),
    (f"silent attackers: opened / closed by the gateway / still open at the end{left(sil)}",
     f"{sil['opened']} / {sil['closed_by_gateway']} / {sil['closed_by_us_at_end']}", "all closed", ok(sil['closed_by_us_at_end'] == 0)),
    (f"silent: open → close (deadline header_read_timeout {hrt:g} s); late (> {hrt + grace:g} s)",
     f"{fmt_d(sil['close_s'])}; {sil['late_count']} late", f"max ≤ {hrt + grace:g} s", ok(closed_ok("silent", hrt))),
    (f"slow readers: opened / closed by the gateway / still open at the end{left(slo)}",
     f"{slo['opened']} / {slo['closed_by_gateway']} / {slo['closed_by_us_at_end']}", "all closed", ok(slo['closed_by_us_at_end'] == 0)),
    (f"slow: open → close (deadline send_timeout {st:g} s + fill); late (> {st + grace:g} s)",
     f"{fmt_d(slo['close_s'])}; {slo['late_count']} late", f"max ≤ {st + grace:g} s", ok(closed_ok("slow", st))),
    ("slow: time the gateway kept sending before buffers were full (fill)", fmt_d(slo.get("fill_s")), "", ""),
    ("slow: response status seen (MSG_PEEK, nothing read)", ", ".join(f"{k}: {v}" for k, v in sorted(slo["status"].items())) or "–", "200", ok(set(slo["status"]) == {"200"})),
    ("attackers open: min during pressure / peak (attacker's count)", f"{atk['open_min_during_pressure']} / {atk['peak_open']}", f"{int(silent) + int(slow)}", ""),
    ("tollgate_connections_open: peak sampled / after the run", f"{open_max} / {m2.get('open', '?')}", "", ""),
    ("time from all attackers connected to the gateway holding 98% of them", f"{accept_wait} s", "", ""),
    ("host TCP memory, peak sampled (/proc/net/sockstat; pressure threshold tcp_mem[1])",
     f"{tcp_pages * 4 / 1024:.0f} MiB ({int(tcp_mem_pressure) * 4 / 1024:.0f} MiB)", "", ""),
    ("kernel, during the attack run: accept-queue overflows / SYN cookies sent / TCP memory-pressure entries",
     f"{kd.get('ListenOverflows', 0)} / {kd.get('SyncookiesSent', 0)} / {kd.get('TCPMemoryPressures', 0)}", "", ""),
]
for r in ("header_read_timeout", "idle_timeout", "send_timeout", "max_connections_per_ip"):
    rows.append((f'tollgate_connections_closed_total{{reason="{r}"}} during the attack run (total)',
                 f"{m2.get(r, 0) - m0.get(r, 0)} ({m2.get(r, '?')})", "", ""))
rows.append(("tollgate_connections_total during the attack run", f"{m2.get('total', 0) - m0.get('total', 0)}", "", ""))
for name, r in (("baseline", b), ("attack", a)):
    other = max(0.0, r["busy"] - r["gw_cpu"] - r["wrk_cpu"] - (atk_cpu if name == "attack" else 0))
    extra = f", attacker {atk_cpu:.1f} s ({100 * atk_cpu / r['wall']:.0f}%)" if name == "attack" else ""
    rows.append((f"CPU during the {name} wrk run ({r['wall']:.1f} s, 2 cores = {2 * r['wall']:.0f} cpu·s)",
                 f"gateway {r['gw_cpu']:.1f} s ({100 * r['gw_cpu'] / r['wall']:.0f}%), wrk {r['wrk_cpu']:.1f} s "
                 f"({100 * r['wrk_cpu'] / r['wall']:.0f}%){extra}, other {other:.1f} s", "", ""))
rows.append(("attacker CPU, whole run (user + sys)", f"{atk['cpu_s']:.1f} s ({atk['cpu_user_s']:.1f} + {atk['cpu_sys_s']:.1f}) over {atk['wall_s']:.0f} s", "", ""))
rows.append(("gateway CPU per 1k valid requests, baseline / under attack",
             f"{1000 * b['gw_cpu'] / max(1, b['reqs'] - b['bad']) * 1000:.1f} / {1000 * a['gw_cpu'] / max(1, a['reqs'] - a['bad']) * 1000:.1f} ms", "", ""))

md = [f"# tollgate soak: slow-client attack vs. valid load\n",
      f"Finished {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}. Machine: {machine}. Commit {commit}"
      f"{f' (+{dirty} modified tracked files at run time)' if int(dirty) else ''}. 1-minute load average before the baseline / attack wrk runs: {load0}.\n",
      f"Command: `DURATION={duration} SILENT={silent} SLOW={slow} WARMUP={warmup} MSS={mss} benches/load/soak.sh`. "
      f"Valid load: `wrk -t1 -c64 -d{duration}s --timeout 10s --latency` on a signed 1 KiB GET (dir route, "
      f"filters [\"signature\"]). Attack: {silent} silent TCP connections + {slow} slow readers (signed GET of a "
      f"64 MiB file, SO_RCVBUF 4 KiB, nothing read; MSS {mss if int(mss) else 'loopback default'}), re-opened as soon as the gateway closes them, for "
      f"{warmup} s before and all through the wrk run. header_read_timeout = send_timeout = {hrt:g} s, "
      f"idle_timeout = {it} s, max_connections = 20000. Close times are measured by the attacker from the "
      f"completed connect.\n",
      "| measure | value | goal | |", "|---|---|---|---|"]
md += [f"| {n} | {v} | {g} | {o} |" for n, v, g, o in rows]
for k in ("silent", "slow"):
    if atk[k]["late"]:
        md.append(f"\nLate closes, {k} ({atk[k]['late_count']}; first {len(atk[k]['late'])}, as opened at t s "
                  f"after the attacker started → open-to-close s): "
                  + ", ".join(f"{o:.1f} → {c:.2f}" for o, c in atk[k]["late"]))
open(md_path, "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
say "written: $OUT/soak-latest.md"
