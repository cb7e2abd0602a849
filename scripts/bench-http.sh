#!/usr/bin/env bash
# Measures a release build of Countersign over HTTP on this machine: idle RSS, then each load
# generator scenario against a fresh demo server (SQLite, or PostgreSQL with
# COUNTERSIGN_BENCH_POSTGRES_URL), with the server's own CPU time per operation. The load generator
# runs on the same machine and takes its share of the cores. Prints everything; asserts nothing.
#   scripts/bench-http.sh [concurrency] [seconds] [scenarios]
# With PIN=1 the server runs on CPU 0 and the load generator on CPU 1, which isolates the server's
# own capacity on one core. `throttled` locks the client address: keep it last. `codes` prepares
# CODE_USERS users (default 1000) with three flows each, then submits their accepted codes at once.
# `password-signin` spreads its workers over SIGNIN_USERS users (default: one per worker), as one
# person rarely signs in many times at once (and attempts in flight count against a lockout).
# BIN_DIR=dir measures the countersign and countersign-load binaries in that directory instead of
# building this checkout (for before/after comparisons).
set -euo pipefail
cd "$(dirname "$0")/.."
conc="${1:-16}"
secs="${2:-10}"
scenarios="${3:-password-signin refresh refresh-es256 codes throttled}"
code_users="${CODE_USERS:-1000}"
source scripts/bench-common.sh
serve 18089 --demo
# An ES256 twin of the demo app, to show what RSA signing costs on refresh.
$cs "${args[@]}" admin app create --tenant contoso --name "Bench ES256" --public --client-id bench-es256 \
  --id-token-alg ES256 --redirect-uri http://localhost:8081/callback >/dev/null
sleep 2
# The sign-in workers' and the code scenario's users.
signin_users="${SIGNIN_USERS:-$conc}"
want=0
[[ " $scenarios " == *" password-signin "* ]] && want=$signin_users
[[ " $scenarios " == *" codes "* ]] && ((code_users > want)) && want=$code_users
users "$want"
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' /proc/$pid/stat; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r); store: ${COUNTERSIGN_BENCH_POSTGRES_URL:+postgres}${COUNTERSIGN_BENCH_POSTGRES_URL:-sqlite}"
echo "idle RSS after start and demo seeding: $(awk '/VmRSS/{print $2 " " $3}' /proc/$pid/status)"
echo "concurrency $conc, $secs s per scenario, pinned: ${PIN:-0}"
printf '%-14s %9s %7s %10s %9s %9s %9s %9s %12s\n' scenario ok errors "per sec" "p50 ms" "p90 ms" "p99 ms" "max ms" "srv CPU ms"
for s in $scenarios; do
  extra=()
  name=$s
  if [[ $s == refresh-es256 ]]; then name=refresh; extra=(--client-id bench-es256); fi
  [[ $s == password-signin ]] && extra=(--signin-users "$signin_users")
  [[ $s == codes ]] && extra=(--users "$code_users")
  before=$(cpu)
  out=$("${gen_pin[@]}" "$bin/countersign-load" --base http://127.0.0.1:18089 --concurrency "$conc" \
    --duration "$secs" --scenarios "$name" "${extra[@]}")
  after=$(cpu)
  read -r _ ok errors rate p50 p90 p99 max <<<"$(echo "$out" | tail -n 1)"
  per_op=$(echo "($after - $before) * 1000 / $tick / ($ok + 0.000001)" | bc -l)
  # For `codes` the server's CPU time includes the set-up (sign-ins, enrolments): not shown.
  [[ $s == codes ]] && per_op=nan
  printf '%-14s %9s %7s %10s %9s %9s %9s %9s %12.3f\n' "$s" "$ok" "$errors" "$rate" "$p50" "$p90" "$p99" "$max" "$per_op"
done
echo "RSS after load: $(awk '/VmRSS/{print $2 " " $3}' /proc/$pid/status)"
