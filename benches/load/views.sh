#!/usr/bin/env bash
# Durable view counting under load: the same 1 KiB signed GET through a `dir` route with the
# full chain (signature, revocation, view_limit), with a token that has no view limit (no
# store access) and with one whose limit is never reached (every request is a durable,
# fsync'd count on the embedded store). A B A B, ROUNDS rounds (default 2), wrk -t1 -c64.
# Prints req/s and p99 for each, the added p99, and the store's mean batch size.
# Installs wrk if missing; leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-2}
DUR=${DUR:-10s}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q
bin=target/release/tollgate
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(port); A=$(port)
mkdir -p "$work/files"
head -c 1024 /dev/urandom > "$work/files/1k.bin"
cat > "$work/t.toml" <<TOML
public_url = "http://127.0.0.1:$P"
[server]
listen = "127.0.0.1:$P"
[admin]
listen = "127.0.0.1:$A"
[state]
backend = "embedded"
path = "$work/state"
[[keys]]
id = "k1"
secret = "$($bin keygen)"
[[origins]]
name = "files"
kind = "dir"
root = "$work/files"
[[routes]]
prefix = "/files/"
origin = "files"
filters = ["signature", "revocation", "view_limit"]
TOML
TOLLGATE_LOG=warn $bin serve --config "$work/t.toml" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$A/readyz" >/dev/null && break; sleep 0.05; done
free=$($bin sign --config "$work/t.toml" --path /files/1k.bin)
counted=$($bin sign --config "$work/t.toml" --path /files/1k.bin --max-views 1000000000000)
metric() { curl -s "http://127.0.0.1:$A/metrics" | awk -v m="$1" '$1==m {print $2}'; }
run() { # name url -> "req/s p99_ms"
  wrk -t1 -c64 -d"$DUR" --latency "$2" > "$work/wrk.txt"
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; print v}' "$work/wrk.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
  echo "$1 $rps $p99 ${non2xx:-0}" | tee -a "$work/results"
}
echo "case req/s p99_ms non2xx"
for r in $(seq "$ROUNDS"); do
  run unlimited "$free"
  c0=$(metric tollgate_store_commits_total); o0=$(metric tollgate_store_ops_total)
  run counted "$counted"
  c1=$(metric tollgate_store_commits_total); o1=$(metric tollgate_store_ops_total)
  echo "  round $r: $((c1 - c0)) commits for $((o1 - o0)) counted views: mean batch $(( (o1 - o0) / (c1 - c0 > 0 ? c1 - c0 : 1) ))"
done
python3 - "$work/results" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
med = lambda name, i: st.median(float(r[i]) for r in rows if r[0] == name)
u_rps, u_p99 = med("unlimited", 1), med("unlimited", 2)
c_rps, c_p99 = med("counted", 1), med("counted", 2)
print(f"\nmedians: unlimited {u_rps:,.0f} req/s p99 {u_p99:.2f} ms | counted {c_rps:,.0f} views/s p99 {c_p99:.2f} ms")
print(f"durable counting: {c_rps:,.0f} counted views/s ({c_rps/u_rps:.2f}x the unlimited rate), added p99 {c_p99 - u_p99:+.2f} ms")
PY
echo "views counted in total: $(metric tollgate_views_counted_total)"
