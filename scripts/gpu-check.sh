#!/usr/bin/env bash
# One visit to a GPU machine measures everything the webgpu backend needs measured, as JSON lines.
#
# On a machine with the project built and packed (../shared/gpu/pack.sh writes .gpu/: Node, dist/,
# the production modules, the Vulkan loader), from the project root:
#   OUT=/some/dir bash scripts/gpu-check.sh            # via .gpu/run.sh (no Node needed there)
# Here, to check the script itself on llvmpipe (small sizes, software adapter; not GPU figures):
#   GPU_CHECK_NODE=node RAMANUJAN_WEBGPU_SOFTWARE=1 OUT=/tmp/gpu-check bash scripts/gpu-check.sh --quick
#
# Writes to $OUT (default ./gpu-check-out):
#   doctor.json          `ramanujan doctor --json`: Node, threads, adapters, what auto picks
#   webgpu-tests.tap     the webgpu kernel, contract, training, layer and lottery tests (TAP), adapter required
#   bench.jsonl          `bench engine --device gpu --json`: sgemm_4096, *_train, conv4_level_paper_s ...
#   gpu-check.jsonl      all of it as JSON lines: {"check": ...} per step, then the bench figures
# Each step's stderr goes to <step>.err. The script goes on after a failing step and exits non-zero
# at the end if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check-out}
mkdir -p "$out"
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)

run_node() {
  if [ -n "${GPU_CHECK_NODE:-}" ]; then "$GPU_CHECK_NODE" "$@"; else bash .gpu/run.sh "$@"; fi
}

date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)
failed=0
lines="$out/gpu-check.jsonl"
: > "$lines"
step() { # name rc seconds [extra json fields]
  printf '{"check":"%s","rc":%d,"seconds":%d,"date":"%s"%s}\n' "$1" "$2" "$3" "$date_utc" "${4:-}" >> "$lines"
  [ "$2" -eq 0 ] || failed=1
}

t0=$SECONDS
run_node bin/ramanujan.js doctor --json > "$out/doctor.json" 2> "$out/doctor.err"
rc=$?
step doctor $rc $((SECONDS - t0)) ",\"doctor\":$(cat "$out/doctor.json" 2>/dev/null | head -1 | grep '^{' || echo null)"

t0=$SECONDS
RAMANUJAN_WEBGPU_REQUIRED=1 run_node --test --test-reporter=tap \
  dist/test/engine/webgpu.test.js dist/test/engine/webgpu-contract.test.js dist/test/engine/webgpu-training.test.js \
  dist/test/nn/webgpu-layers.test.js dist/test/prune/webgpu-lottery.test.js \
  > "$out/webgpu-tests.tap" 2> "$out/webgpu-tests.err"
rc=$?
pass=$(grep -E '^# pass ' "$out/webgpu-tests.tap" | awk '{print $3}' | tail -1)
fail=$(grep -E '^# fail ' "$out/webgpu-tests.tap" | awk '{print $3}' | tail -1)
step webgpu-tests $rc $((SECONDS - t0)) ",\"pass\":${pass:-0},\"fail\":${fail:-0}"

t0=$SECONDS
run_node dist/bench/run.js engine --device gpu --json "${quick[@]}" > "$out/bench.jsonl" 2> "$out/bench.err"
rc=$?
step bench $rc $((SECONDS - t0))
grep '^{' "$out/bench.jsonl" >> "$lines"

cat "$lines"
exit $failed
