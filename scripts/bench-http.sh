#!/usr/bin/env bash
# Measures a release build of Countersign over HTTP on this machine: idle RSS, then the load
# generator's scenarios against a fresh demo server (SQLite, or PostgreSQL with
# COUNTERSIGN_BENCH_POSTGRES_URL). Prints everything; nothing is asserted.
#   scripts/bench-http.sh [concurrency] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
conc="${1:-16}"
secs="${2:-10}"
cargo build --release -q -p countersign -p countersign-load
data="$(mktemp -d)"
args=(--data-dir "$data")
if [[ -n "${COUNTERSIGN_BENCH_POSTGRES_URL:-}" ]]; then
  schema="bench_$(date +%s)"
  args=(--database-url "$COUNTERSIGN_BENCH_POSTGRES_URL")
  export COUNTERSIGN_DATABASE_SCHEMA="$schema"
fi
RUST_LOG=warn ./target/release/countersign "${args[@]}" serve --demo --listen 127.0.0.1:18089 >"$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:18089/healthz >/dev/null && break; sleep 0.2; done
sleep 2
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
echo "idle RSS: $(awk '/VmRSS/{print $2 " " $3}' /proc/$pid/status)"
./target/release/countersign-load --base http://127.0.0.1:18089 --concurrency "$conc" --duration "$secs"
echo "RSS after load: $(awk '/VmRSS/{print $2 " " $3}' /proc/$pid/status)"
