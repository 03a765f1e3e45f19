#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer via libfuzzer-sys) of the session
# reader, the HAR importer and the query-string parser, on the stable
# toolchain: the sanitizer-coverage instrumentation is requested with stable
# `-C passes/llvm-args` flags, so neither nightly nor cargo-fuzz is needed
# (no AddressSanitizer; the code under test is safe Rust).
#
# Usage: .ci/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# Corpora and crash inputs live under target/fuzz/. A crash input should be
# copied to tests/fuzz/regressions/<target>/, where `cargo test` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the flags off build scripts and proc macros.
cargo build --release --manifest-path tests/fuzz/Cargo.toml --target "$triple" \
    --target-dir target/fuzz/build

status=0
for name in session_reader har_import query_parse; do
    corpus="target/fuzz/corpus/$name"
    artifacts="target/fuzz/artifacts/$name"
    mkdir -p "$corpus" "$artifacts"
    seeds=()
    [ -d "tests/fuzz/regressions/$name" ] && seeds+=("tests/fuzz/regressions/$name")
    case "$name" in
        session_reader) seeds+=(sessions) ;;
    esac
    echo "== fuzzing $name for ${seconds}s"
    if ! "target/fuzz/build/$triple/release/$name" "$corpus" "${seeds[@]}" \
        -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" 2>"target/fuzz/$name.log"; then
        echo "$name: CRASH, input saved under $artifacts/" >&2
        status=1
    fi
    grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::new_units_added)" "target/fuzz/$name.log" || tail -5 "target/fuzz/$name.log"
done
exit "$status"
