#!/usr/bin/env bash
# Builds every fuzz target once, then fuzzes each for FUZZ_SECONDS (default 20) on a scratch
# copy of its committed seeds. Exits non-zero if any target fails to build or finds a crash,
# naming the crashing input (kept under fuzz/artifacts/<target>/).
#
#   fuzz/run.sh                      # all targets, 20 s each
#   FUZZ_SECONDS=60 fuzz/run.sh path # some targets
#
# Needs only rustup's stable toolchain: cargo-fuzz's nightly flags (-Zsanitizer) are
# allowed through RUSTC_BOOTSTRAP=1.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export RUSTC_BOOTSTRAP=1
seconds=${FUZZ_SECONDS:-20}
all_targets=(token path range config cookie admin_json)
targets=("${@:-${all_targets[@]}}")

# Inputs longer than any field the code accepts add nothing but slower runs.
max_len() {
    case $1 in
        token) echo 9000 ;;       # MAX_TOKEN_LEN 4096, plus a query and headers
        path) echo 4200 ;;        # MAX_PATH_BYTES 4096
        range) echo 256 ;;
        config) echo 16384 ;;
        cookie) echo 512 ;;
        admin_json) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    nice cargo install --locked cargo-fuzz || exit 1
fi

# FUZZ_SANITIZER=none skips AddressSanitizer: the crate forbids unsafe code, so what the
# fuzzers look for is panics and failed assertions, and the build takes half the time.
build_flags=(-O --debug-assertions -s "${FUZZ_SANITIZER:-address}")
echo "== building ${targets[*]}"
start=$(date +%s)
declare -A broken=()
if [ "${#targets[@]}" -eq "${#all_targets[@]}" ]; then
    nice cargo fuzz build "${build_flags[@]}"
else
    false
fi || {
    # One target that does not compile (an API not there yet) must not hide the others.
    for t in "${targets[@]}"; do
        nice cargo fuzz build "${build_flags[@]}" "$t" || broken[$t]=1
    done
}
echo "== build took $(($(date +%s) - start)) s"

bin_dir=$root/fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
summary=()
failed=0
for t in "${targets[@]}"; do
    if [ -n "${broken[$t]:-}" ]; then
        summary+=("$(printf '%-11s %12s runs  %8s exec/s  BUILD FAILED' "$t" - -)")
        failed=1
        continue
    fi
    corpus=$scratch/corpus/$t
    mkdir -p "$corpus" "$root/fuzz/artifacts/$t"
    cp -r "$root/fuzz/seeds/$t/." "$corpus/"
    log=$scratch/$t.log
    echo "== fuzzing $t for ${seconds}s"
    # From the scratch dir: the config target resolves relative paths against the cwd.
    (cd "$scratch" && nice "$bin_dir/$t" "$corpus" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="$root/fuzz/artifacts/$t/") >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    if [ -n "$runs" ] && [ -n "$secs" ] && [ "$secs" -gt 0 ]; then
        rate=$((runs / secs))
    else
        # A crash ends the run before libFuzzer's "Done" line: take its last status line.
        rate=$(grep -o 'exec/s: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    fi
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        failed=1
        input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        result="CRASH (exit $rc) input: ${input:-see log}"
        echo "---- $t: the panic, then the end of the libFuzzer log"
        grep -A2 -m1 'panicked at' "$log"
        tail -n 20 "$log"
        echo "---- minimize with: RUSTC_BOOTSTRAP=1 cargo fuzz tmin -O -a $t $input"
        cp "$log" "$root/fuzz/artifacts/$t/last-crash.log"
    fi
    summary+=("$(printf '%-11s %12s runs  %8s exec/s  %s' "$t" "${runs:-?}" "${rate:--}" "$result")")
done

echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit "$failed"
