#!/usr/bin/env bash
# Measures passkey sign-ins over HTTP with a release build: a fresh demo server (SQLite, or
# PostgreSQL with COUNTERSIGN_BENCH_POSTGRES_URL) with passkeys on, alice given one passkey by the
# load generator's software authenticator, then from CONC workers (default 16) for SECONDS_
# (default 10) each, with the server's and the generator's CPU time per operation:
#   healthz           GET /healthz: the cheapest HTTP exchange on this machine;
#   passkey           whole sign-ins with no name typed (name page, options, answer);
#   passkey-ceremony  begin (options) + finish (answer) only, the page visited once per worker.
# Then criterion's verify figures (benches/passkeys.rs) and the issue's target beside the measured
# rates — half of this machine's P-256 verify rate per core times its cores — and the ceiling this
# machine puts on begin + finish: its cores over the CPU time of two of the cheapest exchanges
# plus one verify (plus the generator's answer).
# PIN=1 as in bench-common.sh. Asserts nothing.
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
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r); store: ${COUNTERSIGN_BENCH_POSTGRES_URL:+postgres}${COUNTERSIGN_BENCH_POSTGRES_URL:-sqlite}"
echo "concurrency $conc, $secs s per scenario, pinned: ${PIN:-0}"
out=$("${gen_pin[@]}" $bin/countersign-load --base http://localhost:18091 --server-pid "$pid" \
  --scenarios healthz,passkey,passkey-ceremony --concurrency "$conc" --duration "$secs" \
  --threads "${GEN_THREADS:-1}")
echo "$out"
echo "== verify costs (criterion medians, target/criterion/*/new/estimates.json)"
cargo bench -q -p countersign-server --bench passkeys -- --noplot >/dev/null 2>&1
python3 - "$(nproc)" "$out" <<'PY'
import json, re, sys
cores, out = int(sys.argv[1]), sys.argv[2]
rate = {m[1]: float(m[2]) for m in re.finditer(r"^(\S+)\s+\d+\s+\d+\s+([\d.]+)", out, re.M)}
cpu = {(m[1], m[2]): float(m[3])
       for m in re.finditer(r"^(\S+): (server|load generator) CPU per \S+: ([\d.]+) ms", out, re.M)}
med = {}
for name in ["p256_verify_aws_lc_rs", "webauthn_begin_sign_in", "webauthn_finish_sign_in",
             "webauthn_rs_finish_sign_in", "soft_passkey_assert"]:
    with open(f"target/criterion/{name}/new/estimates.json") as f:
        med[name] = json.load(f)["median"]["point_estimate"] / 1000  # µs
    print(f"{name:<26} {med[name]:9.1f} µs")
per_core = 1e6 / med["p256_verify_aws_lc_rs"]
target = 0.5 * per_core * cores
print(f"P-256 verify: {per_core:.0f}/s per core; target (50 % × {cores} cores): {target:.0f} sign-ins/s")
for s in ["passkey", "passkey-ceremony"]:
    print(f"measured {s}: {rate.get(s, 0):.0f}/s")
# The least a begin + finish can cost on this machine, server and generator together: two of
# the cheapest exchanges, the one signature check, and the answer the generator must make;
# nothing else (no store, no pages, no parsing on the server).
exchange = cpu.get(("healthz", "server"), 0) + cpu.get(("healthz", "load generator"), 0)
verify, answer = med["p256_verify_aws_lc_rs"], med["soft_passkey_assert"]
print(f"ceiling for begin + finish on these {cores} cores: "
      f"{cores * 1e6 / (2 * exchange * 1000 + verify):.0f}/s with nothing but two exchanges "
      f"({exchange * 1000:.0f} µs each) and a verify ({verify:.0f} µs); "
      f"{cores * 1e6 / (2 * exchange * 1000 + verify + answer):.0f}/s with the answer made too "
      f"({answer:.0f} µs)")
PY
