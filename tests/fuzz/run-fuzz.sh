#!/usr/bin/env bash
# Build the pgoutput libFuzzer target with clang and run it briefly.
#
#   tests/fuzz/run-fuzz.sh [WORK_DIR] [SECONDS]
#
# WORK_DIR (default: a temporary directory, removed afterwards) receives the binary, the corpus
# (seeded from tests/fixtures/pgoutput/*.bin; inputs the fuzzer finds are kept there between runs
# when WORK_DIR is given) and crash artifacts. SECONDS defaults to 20 (-max_total_time), inputs are
# at most 4096 bytes. Exit status: 0 when the fuzzer found nothing, 1 on a crash, sanitizer
# report, leak or timeout (the artifact's path is printed), on a build failure, or when clang++
# is missing. Environment: CXX_FUZZ overrides the compiler (default clang++-14, else clang++).
set -euo pipefail

readonly PROG="run-fuzz.sh"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="${1:-}"
SECONDS_TO_RUN="${2:-20}"
[[ "$SECONDS_TO_RUN" =~ ^[0-9]+$ ]] || { echo "$PROG: SECONDS must be a number, got '$SECONDS_TO_RUN'" >&2; exit 2; }

CXX_FUZZ="${CXX_FUZZ:-}"
if [ -z "$CXX_FUZZ" ]; then
  for c in clang++-14 clang++; do
    if command -v "$c" >/dev/null; then CXX_FUZZ="$c"; break; fi
  done
fi
if [ -z "$CXX_FUZZ" ]; then
  echo "$PROG: clang++ not found: libFuzzer needs clang" \
    "(scripts/install-deps installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi

if [ -z "$WORK" ]; then
  WORK="$(mktemp -d)"
  trap 'rm -rf -- "$WORK"' EXIT
fi
mkdir -p "$WORK/corpus" "$WORK/artifacts"

BIN="$WORK/fuzz_pgoutput"
sources=("$SRC/tests/fuzz/fuzz_pgoutput.cpp" "$SRC"/cdc/pgoutput*.cpp "$SRC/core/lsn.cpp" "$SRC/core/error.cpp")
echo "$PROG: building $BIN with $CXX_FUZZ" >&2
if ! "$CXX_FUZZ" -std=c++20 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Wall -Wextra -Werror -include utility -I"$SRC" "${sources[@]}" -lfmt -o "$BIN" 2>"$WORK/build.log"; then
  cat "$WORK/build.log" >&2
  if grep -q "libclang_rt.fuzzer" "$WORK/build.log"; then
    echo "$PROG: the libFuzzer runtime is missing: install libclang-rt-14-dev (scripts/install-deps)" >&2
  fi
  echo "$PROG: build failed" >&2
  exit 1
fi

seeds=("$SRC"/tests/fixtures/pgoutput/*.bin)
[ -e "${seeds[0]}" ] || { echo "$PROG: no seeds in tests/fixtures/pgoutput" >&2; exit 1; }
cp -- "${seeds[@]}" "$WORK/corpus/"

echo "$PROG: fuzzing for ${SECONDS_TO_RUN}s, corpus $WORK/corpus (${#seeds[@]} seeds)" >&2
status=0
"$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$WORK/artifacts/" "$WORK/corpus" >"$WORK/fuzz.log" 2>&1 || status=$?
grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$WORK/fuzz.log" >&2 || true
if [ "$status" -ne 0 ]; then
  tail -n 60 "$WORK/fuzz.log" >&2
  found="$(find "$WORK/artifacts" -type f -printf '%f ' 2>/dev/null | head -c 400 || true)"
  echo "$PROG: the fuzzer failed (exit $status); artifacts in $WORK/artifacts: ${found:-none}" >&2
  # Keep the evidence of a temporary work dir.
  trap - EXIT
  exit 1
fi
echo "$PROG: no crash" >&2
