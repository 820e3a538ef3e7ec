#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs dependencies,
# builds twice (normal, and ASan+UBSan), and runs every unit and integration
# test of each build through ctest. Each build's integration tests start and
# stop their own throwaway PostgreSQL (a ctest fixture).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${MEDALLION_SKIP_DEPS:-0}" != 1 ]; then
    bash scripts/install-deps.sh
fi

jobs=$(nproc 2>/dev/null || echo 2)
run_build() {
    local dir="$1"; shift
    echo "=== build $dir $*"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$jobs" >/dev/null
    echo "=== test $dir"
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 900
}

run_build build
# Sanitizers: any error aborts the test that hit it.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_build build-asan -DMEDALLION_SANITIZE=ON
echo "=== all tests passed (normal and ASan+UBSan builds)"
