#!/usr/bin/env bash
# Fuzzing: builds the cargo-fuzz targets in fuzz/ and runs each for SECONDS (default 60)
# on a copy of its committed corpus (fuzz/corpus/<target>/), after replaying every input
# in fuzz/regressions/<target>/ (crashes found before). Prints one line per target with
# libFuzzer's execution count and coverage; exits non-zero on any crash, saying where the
# input is (fuzz/artifacts/<target>/, kept out of git).
#
#   scripts/fuzz.sh [SECONDS]
#   FUZZ_JOBS=N        run N targets at once (default 1)
#   FUZZ_TARGETS="a b" run only these targets
#   FUZZ_LOGS=DIR      keep each target's libFuzzer log in DIR (default: a temporary dir)
#
# Nightly when rustup has it, else stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs
# nightly-only flags); cargo-fuzz is installed when missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
fuzz=$PWD
seconds=${1:-60}
jobs=${FUZZ_JOBS:-1}
[[ $seconds =~ ^[0-9]+$ && $jobs =~ ^[1-9][0-9]*$ ]] || {
    echo "usage: scripts/fuzz.sh [SECONDS] (FUZZ_JOBS a positive number)" >&2
    exit 2
}
all_targets="local_frame phone_message dashboard_message http_gate sealed_frame flood_differential"
targets=${FUZZ_TARGETS:-$all_targets}

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cargo=(cargo +nightly)
else
    cargo=(env RUSTC_BOOTSTRAP=1 cargo)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# Release with debug assertions and overflow checks, AddressSanitizer (cargo-fuzz's default).
"${cargo[@]}" fuzz build
bin=$fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
logs=${FUZZ_LOGS:-$work/logs}
mkdir -p "$logs"

# What libFuzzer is given besides the corpus, per target.
options() {
    local common=(-print_final_stats=1 -timeout=30 -rss_limit_mb=3072)
    case $1 in
        # No allocation beyond the frame cap (8 MiB; libFuzzer counts in whole MiB and stops at the limit itself).
        local_frame) echo "${common[@]}" -malloc_limit_mb=9 ;;
        phone_message | dashboard_message) echo "${common[@]}" -dict="$fuzz/json.dict" ;;
        http_gate) echo "${common[@]}" -dict="$fuzz/http_gate.dict" -max_len=2048 ;;
        # Up to 4 MiB of output parsed twice and redrawn with history: seconds per input
        # under AddressSanitizer, far more on a machine busy with other work.
        flood_differential) echo "${common[@]/-timeout=30/-timeout=300}" -max_len=2048 ;;
        *) echo "${common[@]}" ;;
    esac
}

# Runs one target; prints its line; non-zero on a crash.
run() {
    local target=$1 log=$logs/$1.log dir=$work/$1
    local artifacts=$fuzz/artifacts/$target/
    mkdir -p "$dir/corpus" "$dir/tmp" "$artifacts"
    cp "$fuzz/corpus/$target"/seed-* "$dir/corpus/"
    : >"$log"
    # shellcheck disable=SC2046 # options are words
    if [[ -d $fuzz/regressions/$target ]] && ! TMPDIR=$dir/tmp "$bin/$target" \
        $(options "$target") -runs=0 "$fuzz/regressions/$target" >>"$log" 2>&1; then
        echo "fuzz: $target: FAILED replaying fuzz/regressions/$target (log: $log)"
        grep -E "panicked|ERROR|SUMMARY" "$log" | head -5 | sed 's/^/    /'
        return 1
    fi
    # shellcheck disable=SC2046
    if TMPDIR=$dir/tmp "$bin/$target" $(options "$target") -max_total_time="$seconds" \
        -artifact_prefix="$artifacts" "$dir/corpus" >>"$log" 2>&1; then
        local runs done
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        done=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')
        echo "fuzz: $target: ${runs:-?} executions in ${seconds} s (${done:-no coverage line}), no crash"
    else
        local input
        input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        echo "fuzz: $target: CRASH, input ${input:-not written} (log: $log)"
        grep -E "panicked|ERROR|SUMMARY" "$log" | head -5 | sed 's/^/    /'
        return 1
    fi
}

failed=0
if ((jobs == 1)); then
    for target in $targets; do
        run "$target" || failed=1
    done
else
    for target in $targets; do
        while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
        run "$target" >"$work/$target.line" &
    done
    wait
    for target in $targets; do
        cat "$work/$target.line"
        grep -q "no crash$" "$work/$target.line" || failed=1
    done
fi
exit "$failed"
