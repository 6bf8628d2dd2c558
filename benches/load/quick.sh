#!/usr/bin/env bash
# A first quick load test of tollgate alone (the side-by-side nginx comparison is
# benches/load/run.sh, issue 5). Plain HTTP on loopback, a release build, a `dir` route:
#   1. requests/s for a 1 KiB signed GET (wrk, 1 thread, 64 connections, 10 s)
#   2. MB/s for one 1 GiB signed download (curl to /dev/null), and the gateway's peak RSS
# Installs wrk from Debian if missing. Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/../.."
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
head -c $((1 << 30)) /dev/zero > "$work/files/1g.bin"
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
filters = ["signature"]
TOML
TOLLGATE_LOG=warn $bin serve --config "$work/t.toml" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$A/readyz" >/dev/null && break; sleep 0.05; done
u1=$($bin sign --config "$work/t.toml" --path /files/1k.bin)
ug=$($bin sign --config "$work/t.toml" --path /files/1g.bin)
echo "== 1 KiB signed GET, HTTP/1.1 keep-alive, wrk -t1 -c64 -d10s"
wrk -t1 -c64 -d10s --latency "$u1" | grep -E "Requests/sec|Latency|99%|Non-2xx"
echo "== 1 GiB signed download (curl, 3 runs)"
for i in 1 2 3; do
  curl -s -o /dev/null -w "%{speed_download}\n" "$ug" | awk '{printf "%.0f MB/s\n", $1/1e6}'
done
echo "== gateway peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
