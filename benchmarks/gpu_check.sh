#!/usr/bin/env bash
# The one prepared check to run when a task is lent a GPU (about 10 minutes on an H200): CUDA-marked tests,
# `llmroof ceilings` against the datasheet, a default `llmroof profile` with NVML and CUDA graphs, `llmroof sample`
# around a profile, and a short `llmroof bench`-free analytic sanity line. Every step has its own time limit, and a
# failing step does not stop the next: the summary at the end lists each step's exit code. Outputs go to $OUT
# (the device tool's folder) or, where it is unset, a temporary folder; record the figures in
# docs/gpu-validation.md.
#
# Usage (repository root, torch with CUDA and llmroof installed):  bash benchmarks/gpu_check.sh
# On a machine without a GPU it runs the CPU-side steps and says which GPU steps it skipped (test it there first).
set -uo pipefail
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
export XDG_CACHE_HOME="$OUT/cache"  # a fresh calibration, kept with the outputs
export PYTHONUNBUFFERED=1
declare -a SUMMARY=()

step() {  # step NAME SECONDS COMMAND...: run it, keep its output in $OUT/NAME.log, note its exit code
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s): $*"
    local start=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local code=$?
    tail -n 25 "$OUT/$name.log"
    SUMMARY+=("$name: exit $code in $((SECONDS - start)) s")
}

has_cuda=$(python -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
{
    date -u
    python -c "import torch, llmroof; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'llmroof', llmroof.__version__)"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,uuid,driver_version,memory.total,clocks.max.mem --format=csv
} | tee "$OUT/machine.txt"

if [ "$has_cuda" = 1 ]; then
    step cuda_tests 240 pytest -q -m cuda -p no:cacheprovider
    step ceilings 180 llmroof ceilings --device cuda --refresh --format json
    step datasheet 30 llmroof hardware --format json
    step profile 300 llmroof profile --device cuda --cuda-graphs --nvml --out "$OUT/profile" --format json
    step sample 120 llmroof sample --interval-ms 100 --format json --out "$OUT/sample.json" -- \
        llmroof profile --device cuda --layers 4 --batch 1,8 --context 2048 --prompt 512 --out "$OUT/sampled-profile"
else
    echo "no CUDA device: skipping cuda_tests, ceilings --device cuda, the GPU profile and sample"
    step ceilings 120 llmroof ceilings --device cpu --format json
    step profile 180 llmroof profile --device cpu --layers 1 --batch 1 --context 128 --prompt 128 --out "$OUT/profile" --format json
    step sample 60 llmroof sample --seconds 1 --format json  # status "unavailable" where NVML is absent
fi
step analyze 30 llmroof analyze --model llama-3-8b --hardware h200 --format json

# The calibrated HBM roof against the datasheet, and the highest per-op roofline fraction of the profile.
python - "$OUT" <<'EOF' | tee "$OUT/figures.txt"
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
def load(name):
    try:
        return json.loads((out / name).read_text())
    except (OSError, ValueError):
        return None
run = load("profile/results.json")
if run:
    c = run.get("ceilings") or {}
    sheet = run.get("hardware") or {}
    memory = c.get("memory_bandwidth_bytes_per_s")
    print(f"device: {run['device'].get('name')}; calibrated memory roof {memory and memory / 1e9:.1f} GB/s"
          + (f" = {memory / sheet['memory_bandwidth_bytes_per_s']:.1%} of the datasheet's "
             f"{sheet['memory_bandwidth_bytes_per_s'] / 1e9:.0f} GB/s" if memory and sheet.get("memory_bandwidth_bytes_per_s") else ""))
    print("compute roofs (FLOP/s):", c.get("compute_flops_per_s"))
    ops = [op for config in run.get("configs", []) for op in (config.get("ops") or []) if op.get("roofline_fraction")]
    if ops:
        top = max(ops, key=lambda op: op["roofline_fraction"])
        print(f"highest op roofline_fraction {top['roofline_fraction']:.3f} ({top['name']}, roof {top.get('roof_level')})")
    for config in run.get("configs", []):
        if config.get("status") == "ok":
            print(f"{config['phase']} b={config['batch']} {config.get('context_len') or config.get('prompt_len')}: "
                  f"{config['time_s'] * 1e3:.3f} ms, {config.get('roofline_fraction', 0):.1%} of the roofline, "
                  f"NVML bytes/analytic {(config.get('nvml') or {}).get('measured_to_analytic_bytes_ratio')}")
else:
    print("no profile results")
EOF

echo "== summary ($OUT)"
printf '%s\n' "${SUMMARY[@]}" | tee "$OUT/summary.txt"
