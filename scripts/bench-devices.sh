#!/usr/bin/env bash
# Measures push approvals through the device channel with a release build: DEVICE_USERS devices
# (default 1000) registered and connected at once, the server's memory per idle connected device,
# then sign-in requests at RATE per second (default 200) for SECONDS_ (default 10): delivery
# (created → received on the device) and round trip (created → the approval seen by the waiting
# page). BIN_DIR as in bench-http.sh.
# SQLite by default; COUNTERSIGN_BENCH_POSTGRES_URL=… runs two instances on one PostgreSQL schema,
# the devices connected to the first and the browsers on the second. Also prints the servers' CPU
# time per request while sending. With PIN=1 the server(s) run on CPU 0 and the load generator on
# CPU 1. SCENARIO=phone measures whole passwordless phone sign-ins instead (phone sign-in turned
# on for every device; RATE sign-ins per second): completed sign-ins per second, their latency and
# the delivery. Each user may be sent 4 requests in the run (the push fatigue limit), so
# DEVICE_USERS must be at least RATE × SECONDS_ / 4 for the whole run. The load generator runs on
# one thread (GEN_THREADS=0: one per core), which leaves the server more of a shared machine.
# Asserts nothing.
#   scripts/bench-devices.sh
#   SCENARIO=phone DEVICE_USERS=3850 RATE=1500 scripts/bench-devices.sh
set -euo pipefail
cd "$(dirname "$0")/.."
users="${DEVICE_USERS:-1000}"
rate="${RATE:-200}"
secs="${SECONDS_:-10}"
scenario="${SCENARIO:-devices}"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
source scripts/bench-common.sh
serve 18089 --demo
browser_base=http://127.0.0.1:18089
if [[ -n "${COUNTERSIGN_BENCH_POSTGRES_URL:-}" ]]; then
  # The second instance, where the browsers sign in (public_url as the first, so one issuer).
  serve 18090 --public-url http://localhost:18089
  browser_base=http://127.0.0.1:18090
fi
users "$users"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r); store: ${COUNTERSIGN_BENCH_POSTGRES_URL:+postgres, two instances}${COUNTERSIGN_BENCH_POSTGRES_URL:-sqlite}"
echo "$scenario: $users devices, $rate requests/s for $secs s, pinned: ${PIN:-0}"
pid_args=()
for p in "${pids[@]}"; do pid_args+=(--server-pid "$p"); done
"${gen_pin[@]}" $bin/countersign-load --base http://127.0.0.1:18089 --browser-base "$browser_base" --scenarios "$scenario" \
  --users "$users" --rate "$rate" --duration "$secs" --concurrency 8 --threads "${GEN_THREADS:-1}" "${pid_args[@]}"
echo "server RSS after load: $(awk '/VmRSS/{print $2 " " $3}' /proc/$pid/status)"
