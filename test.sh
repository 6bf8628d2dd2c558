#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then runs
# formatting, lints, unit and integration tests, and a smoke run of the benchmarks.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v python3 >/dev/null || need+=(python3)
command -v openssl >/dev/null || need+=(openssl)
# Download managers for tests/download_managers.rs (resumes through view grace).
command -v curl >/dev/null || need+=(curl)
command -v wget >/dev/null || need+=(wget)
command -v aria2c >/dev/null || need+=(aria2)
# The browser test (tests/browser.rs): Debian's headless Chromium and its driver.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
[ -d target/py ] || python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Python packages for the tests, in one venv under target/: selenium drives the browser test.
[ -x target/py/bin/python ] || python3 -m venv target/py
target/py/bin/python -c 'import selenium' 2>/dev/null ||
  target/py/bin/pip install -q --disable-pip-version-check 'selenium>=4.11,<5'
# schemathesis, pinned: tests/openapi.rs runs it against a real gateway to check its answers
# against docs/openapi.json.
st_version=4.32.5
target/py/bin/schemathesis --version 2>/dev/null | grep -qxF "schemathesis, version $st_version" ||
  target/py/bin/pip install -q --disable-pip-version-check "schemathesis==$st_version"
# sslyze, pinned: tests/tls_scan.rs scans a real TLS gateway against Mozilla's "intermediate" profile.
sslyze_version=6.3.1
target/py/bin/sslyze --help 2>/dev/null | grep -qF "SSLyze version $sslyze_version" ||
  target/py/bin/pip install -q --disable-pip-version-check "sslyze==$sslyze_version"
rustup component add rustfmt clippy >/dev/null 2>&1 || true

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# --all-targets includes benches/micro.rs: criterion runs each benchmark once, unmeasured,
# so the benchmarks keep compiling and working without a second (release) build.
# Every fuzz target (fuzz/, cargo-fuzz on the stable toolchain) for a short fixed time: a
# crash fails the run. FUZZ_SECONDS=0 skips them.
if [ "${FUZZ_SECONDS:-10}" != 0 ]; then
  FUZZ_SANITIZER=${FUZZ_SANITIZER:-none} FUZZ_SECONDS=${FUZZ_SECONDS:-10} fuzz/run.sh
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --all-targets 2>&1 | tee "$log"
# One closing line with the totals of every test binary.
awk '/^test result:/ {p += $4; f += $6} END {printf "%d passed, %d failed\n", p, f}' "$log"
