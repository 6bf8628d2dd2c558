#!/usr/bin/env bash
# A/B of two tollgate binaries on the 1 KiB `dir` route (the quick.sh case), interleaved
# A B A B so that both see the same machine: `benches/load/ab.sh OLD_BIN NEW_BIN`.
# Plain HTTP on loopback, filters ["signature"], wrk -t1 -c64, ROUNDS x DURATION.
# Prints req/s and p99 per round and the medians. Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/../.."
A=${1:?old binary}; B=${2:?new binary}
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-8}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir -p "$work/files"
head -c 1024 /dev/urandom > "$work/files/1k.bin"
key=$("$B" keygen)
start() { # name bin: starts a gateway, writes its signed URL to $work/$name.url
  local name=$1 bin=$2 P A
  P=$(port); A=$(port)
  cat > "$work/$name.toml" <<TOML
public_url = "http://127.0.0.1:$P"
[server]
listen = "127.0.0.1:$P"
[admin]
listen = "127.0.0.1:$A"
[state]
backend = "embedded"
path = "$work/state-$name"
[[keys]]
id = "k1"
secret = "$key"
[[origins]]
name = "files"
kind = "dir"
root = "$work/files"
[[routes]]
prefix = "/files/"
origin = "files"
filters = ["signature"]
TOML
  TOLLGATE_LOG=warn "$bin" serve --config "$work/$name.toml" >/dev/null 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$A/readyz" >/dev/null && break; sleep 0.05; done
  "$bin" sign --config "$work/$name.toml" --path /files/1k.bin > "$work/$name.url"
}
start a "$A"; start b "$B"
ua=$(cat "$work/a.url"); ub=$(cat "$work/b.url")
run() { wrk -t1 -c64 -d"${DURATION}s" --latency "$1" | awk '/Requests\/sec/ {r=$2} /^ +99%/ {p=$2} END {print r, p}'; }
: > "$work/a.txt"; : > "$work/b.txt"
for i in $(seq "$ROUNDS"); do
  ra=$(run "$ua"); echo "round $i A: $ra"; echo "$ra" >> "$work/a.txt"
  rb=$(run "$ub"); echo "round $i B: $rb"; echo "$rb" >> "$work/b.txt"
done
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ma=$(cut -d' ' -f1 "$work/a.txt" | med); mb=$(cut -d' ' -f1 "$work/b.txt" | med)
echo "median req/s: A $ma, B $mb, B/A $(python3 -c "print(round($mb/$ma, 3))")"
