"""Benchmark capacity planning: a plan over more than 10,000 configurations (library and CLI), and the fast
decode-step model against a full ``analyze`` call.

Run: python benchmarks/bench_plan.py [--json]

The plan: Llama-3-8B on every device of the catalog (15), tp x pp up to 16 GPUs, 4 grid points per doubling
of concurrent sequences, 20 requests/s, TTFT <= 500 ms, TPOT <= 50 ms, $2 per GPU-hour: 12,992
configurations. Each figure is the best (minimum) of several repeats: the machine is shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys

from llmroof.analytic import Workload, analyze
from llmroof.plan import PlanRequest, plan
from llmroof.plan.steps import DecodeModel
from llmroof.specs import get_hardware, get_model
from llmroof.specs.hardware import builtin_hardware
from timing import best_of, machine  # benchmarks/timing.py, beside this script

CLI_ARGS = ["plan", "--model", "llama-3-8b", "--hardware", ",".join(hw.name for hw in builtin_hardware()),
            "--rate", "20", "--ttft-slo", "500", "--tpot-slo", "50", "--gpu-hour-cost", "2"]
# Until `plan` is registered in llmroof.cli.main, run it on llmroof's app from here.
SHIM = ("import sys\n"
        "from llmroof.cli import main as m\n"
        "if 'plan' not in [c.name for c in m.app.registered_commands]:\n"
        "    from llmroof.cli import plan\n"
        "    plan.register(m.app)\n"
        "m.main(sys.argv[1:])\n")


def the_request() -> PlanRequest:
    devices = builtin_hardware()
    return PlanRequest(model=get_model("llama-3-8b"), hardware=devices, rate_qps=20.0, ttft_slo_s=0.5,
                       tpot_slo_s=0.05, gpu_hour_cost_usd=(2.0,) * len(devices), max_gpus_per_replica=16)


def cli_s(fmt: str) -> float:
    command = [sys.executable, "-c", SHIM, *CLI_ARGS, "--format", fmt]
    return best_of(3, lambda: subprocess.run(command, capture_output=True, check=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    request = the_request()
    result = plan(request)
    configurations = len(result.configs)
    layouts = len({c.layout for c in result.configs})
    plan_s = best_of(5, lambda: plan(request))
    plan_json_s = best_of(3, lambda: json.dumps(plan(request).to_dict()))

    model, hw = get_model("llama-3-70b"), get_hardware("h100")
    base = Workload(batch=1, context_len=2304, tp=4, pp=2, attention_kernel="flash", fused_qkv=True)
    one, two = analyze(model, hw, base), analyze(model, hw, dataclasses.replace(base, batch=2))
    fitted = DecodeModel.fit(one, two)
    analyze_s = best_of(200, lambda: analyze(model, hw, dataclasses.replace(base, batch=64)))
    step_s = best_of(2000, lambda: fitted.stage_times_s(64))

    results = {
        "machine": machine(),
        "plan_configurations": configurations,
        "plan_layouts": layouts,
        "plan_s": plan_s,
        "plan_configurations_per_s": configurations / plan_s,
        "plan_with_json_s": plan_json_s,
        "cli_table_s": cli_s("table"),
        "cli_json_s": cli_s("json"),
        "cli_html_s": cli_s("html"),
        "analyze_call_s": analyze_s,
        "decode_model_step_s": step_s,
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"machine: {results['machine']}")
    print(f"plan over {configurations} configurations ({layouts} layouts): {plan_s:8.3f} s = "
          f"{configurations / plan_s:,.0f} configurations/s (target: 10,000 in < 2 s)")
    print(f"plan + to_dict() + json.dumps:         {plan_json_s:8.3f} s")
    print(f"llmroof plan (process start to exit):  table {results['cli_table_s']:.2f} s, json "
          f"{results['cli_json_s']:.2f} s, html {results['cli_html_s']:.2f} s")
    print(f"one analyze() call:                    {analyze_s * 1e6:8.0f} us")
    print(f"one DecodeModel.stage_times_s():       {step_s * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
