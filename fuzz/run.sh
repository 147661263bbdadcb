#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 900) outside CI, seeded from testdata/ and the
# public captures. Needs cargo-fuzz (`cargo install cargo-fuzz`); this machine has only a
# stable toolchain, so RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags (sanitizer, coverage).
# A crash leaves fuzz/artifacts/TARGET/crash-*: fix the cause and keep the input as a test in
# tests/hostile_captures.rs.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
SECS=${1:-900}
shift || true
TARGETS=("${@:-read_capture connections tcp_options}")
for t in ${TARGETS[*]}; do
  mkdir -p "corpus/$t"
  if [ "$t" = tcp_options ]; then
    # A declared length byte, then options: TFO requests and cookies in both kinds, a cut one.
    printf '\x0c\x22\x02\x01\x01\x02\x04\x05\xb4\x08\x0a' >"corpus/$t/request"
    printf '\x0c\x22\x0a\x01\x02\x03\x04\x05\x06\x07\x08\x01\x01' >"corpus/$t/cookie"
    printf '\x08\xfe\x04\xf9\x89\x01\x01\x01\x01' >"corpus/$t/exp"
    printf '\x14\x22\x10\x01' >"corpus/$t/cut"
  else
    cp ../testdata/*.pcap* ../../shared/captures/*.pcap* "corpus/$t/" 2>/dev/null || true
  fi
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" -- \
    -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
done
