#!/usr/bin/env bash
# Crash loop: N rounds (default 200) of `kill -9` during a burst of sign-ins, verification codes
# and code redemptions against a real `countersign serve` on SQLite, each followed by a restart
# and the checks of crates/countersign/tests/crash.rs (acknowledged sessions still work, accepted
# codes and redeemed authorization codes stay consumed, `countersign admin check` passes).
#   scripts/crash-loop.sh [rounds]
# Needs oathtool (apt-get install oathtool). Prints one line per round and the totals.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-200}"
command -v oathtool >/dev/null || { echo "crash-loop: needs oathtool (apt-get install oathtool)" >&2; exit 1; }
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
started=$(date +%s)
CRASH_ROUNDS="$rounds" cargo test -q -p countersign --test crash -- --nocapture 2>&1 | tee "$log" | grep -E "^round|test result|panicked"
awk '/^round/ { n++; s += $7; c += $9; r += $11 }
     END { printf "%d rounds in '"$(( $(date +%s) - started ))"' s: %d sessions, %d codes, %d redemptions acknowledged before a kill -9, all intact after restart\n", n, s, c, r }' "$log"
grep -q "test result: ok" "$log"
