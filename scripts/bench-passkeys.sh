#!/usr/bin/env bash
# Measures passkey sign-ins over HTTP with a release build: a fresh demo server (SQLite, or
# PostgreSQL with COUNTERSIGN_BENCH_POSTGRES_URL) with passkeys on, alice given one passkey by the
# load generator's software authenticator, then whole sign-ins with no name typed (name page,
# options, answer: three requests ending in a session) from CONC workers (default 16) for
# SECONDS_ (default 10), with the server's CPU time per sign-in. Then criterion's verify figures
# (benches/passkeys.rs) and the issue's target beside the measured rate: half of this machine's
# P-256 verify rate per core times its cores. PIN=1 as in bench-common.sh. Asserts nothing.
#   scripts/bench-passkeys.sh
set -euo pipefail
cd "$(dirname "$0")/.."
conc="${CONC:-16}"
secs="${SECONDS_:-10}"
source scripts/bench-common.sh
# WebAuthn needs a host name: the answers' origin is the public URL.
serve 18091 --demo --public-url http://localhost:18091
$cs "${args[@]}" admin policy method enable passkey --tenant contoso >/dev/null
sleep 2
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' /proc/$pid/stat; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r); store: ${COUNTERSIGN_BENCH_POSTGRES_URL:+postgres}${COUNTERSIGN_BENCH_POSTGRES_URL:-sqlite}"
echo "passkey sign-ins: concurrency $conc, $secs s, pinned: ${PIN:-0}"
before=$(cpu)
out=$("${gen_pin[@]}" $bin/countersign-load --base http://localhost:18091 --scenarios passkey \
  --concurrency "$conc" --duration "$secs" --threads "${GEN_THREADS:-1}")
after=$(cpu)
echo "$out"
ok=$(echo "$out" | awk '$1 == "passkey" {print $2}')
rate=$(echo "$out" | awk '$1 == "passkey" {print $4}')
awk -v a="$after" -v b="$before" -v t="$tick" -v n="$ok" \
  'BEGIN { if (n > 0) printf "server CPU per sign-in: %.2f ms\n", (a - b) * 1000 / t / n }'
echo "== verify costs (criterion medians, target/criterion/*/new/estimates.json)"
cargo bench -q -p countersign-server --bench passkeys -- --noplot >/dev/null 2>&1
python3 - "$(nproc)" "$rate" <<'PY'
import json, sys
cores, rate = int(sys.argv[1]), float(sys.argv[2] or 0)
med = {}
for name in ["p256_verify_aws_lc_rs", "webauthn_begin_sign_in", "webauthn_finish_sign_in",
             "webauthn_rs_finish_sign_in"]:
    with open(f"target/criterion/{name}/new/estimates.json") as f:
        med[name] = json.load(f)["median"]["point_estimate"] / 1000  # µs
    print(f"{name:<26} {med[name]:9.1f} µs")
per_core = 1e6 / med["p256_verify_aws_lc_rs"]
target = 0.5 * per_core * cores
print(f"P-256 verify: {per_core:.0f}/s per core; target (50 % × {cores} cores): {target:.0f} sign-ins/s; measured: {rate:.0f}/s")
PY
