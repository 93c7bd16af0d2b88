"""The report of a parallel run (``llmroof profile --tp/--pp``): measured communication share, pipeline
bubble and stage times beside the analytic ones, and rates per rank. RUN is a real results file, kept small:
made on 2 CPU cores with
``llmroof profile --model config.json --pp 2 --micro-batches 2 --batch 2 --prompt 8 --context 16 --dtype fp32
--warmup-ms 1 --rep-ms 5 --timeout 60`` (a 4-layer, 64-wide Llama config), then trimmed: raw samples and
ceiling probes dropped, numbers to 6 digits (the ranks' timings: their n samples, all at
the median). Starting two ranks here would take most of the tests' budget."""

from __future__ import annotations

import copy
import re

from llmroof.report import profile_view
from llmroof.report.render import render_report
from llmroof.results.records.profile import ProfileRecord
from llmroof.units import si

# fmt: off

def _timing(median_s: float, n: int) -> dict:
    """A rank's timing, trimmed: ``n`` samples, all at the median."""
    return {"samples_s": [median_s] * n, "n": n, "min_s": median_s, "median_s": median_s, "mean_s": median_s,
            "p10_s": median_s, "p90_s": median_s, "iqr_s": 0.0, "max_s": median_s, "cv": 0.0}


RUN = {'schema': 'llmroof.profile/1',
     'status': 'complete',
     'environment': {'llmroof_version': '0.1.0',
                     'command_line': 'llmroof profile --model /tmp/cfg.json --pp 2 --micro-batches 2 --batch 2 '
                                     '--prompt 8 --context 16 --dtype fp32 --warmup-ms 1 --rep-ms 5 --timeout 60 --out '
                                     '/tmp/pp2',
                     'time_utc': '2026-11-24T05:39:30+00:00',
                     'host': 'vm',
                     'os': 'Linux 6.18.44-fc-v669',
                     'python': '3.11.7',
                     'torch': '2.13.0+cpu',
                     'cuda': None,
                     'device_kind': 'cpu',
                     'device_name': 'AMD EPYC',
                     'cpu_model': 'AMD EPYC',
                     'cpu_count': 2,
                     'threads': 1,
                     'driver': None,
                     'cpu_clock_mhz': None,
                     'cpu_max_clock_mhz': None},
     'device': {'kind': 'cpu', 'name': 'AMD EPYC', 'cache_bytes': 33554432},
     'hardware': None,
     'model': {'name': 'llama (/tmp/cfg.json)',
               'attention': 'gqa',
               'spec': {'name': 'llama (/tmp/cfg.json)',
                        'hidden_size': 64,
                        'num_layers': 4,
                        'num_heads': 8,
                        'num_kv_heads': 2,
                        'head_dim': 8,
                        'intermediate_size': 128,
                        'vocab_size': 256,
                        'tie_word_embeddings': False,
                        'gated_mlp': True,
                        'activation': 'silu',
                        'qkv_bias': False,
                        'attn_out_bias': False,
                        'mlp_bias': False,
                        'norm': 'rmsnorm',
                        'parallel_attention': False,
                        'model_type': 'llama',
                        'sliding_window': None,
                        'num_experts': None,
                        'experts_per_token': None,
                        'source': '/tmp/cfg.json'}},
     'workload': {'batches': [2],
                  'prompt_len': 8,
                  'contexts': [16],
                  'dtype': 'fp32',
                  'layers_instantiated': 4,
                  'layers_total': 4,
                  'extrapolated': False},
     'ceilings': {'method': 'read: sum of a 268435456 B fp32 buffer (>= 4x the 33554432 B cache); copy: dst <- src of '
                            'the same size, bytes read plus written; compute: 2048x2048x2048 matmul in fp32; each the '
                            'best of its samples',
                  'measured_bandwidth_bytes_per_s': 25384800000.0,
                  'measured_copy_bandwidth_bytes_per_s': 19421500000.0,
                  'measured_flops_per_s': 80740700000.0,
                  'compute_dtype': 'fp32',
                  'probes': []},
     'configs': [{'phase': 'prefill',
                  'batch': 2,
                  'prompt_len': 8,
                  'status': 'ok',
                  'micro_batches': 2,
                  'time_s': 0.00258847,
                  'ranks': [{'rank': 0,
                             'stage': 0,
                             'tp_rank': 0,
                             'layers': 2,
                             'stage_time_s': 0.000596999,
                             'stage_timing': _timing(0.000596999, 3),
                             'pipeline_time_s': 0.00188751,
                             'pipeline_timing': _timing(0.00188751, 3),
                             'allreduce_time_s': None,
                             'allreduce_bytes': 2048,
                             'p2p_time_s': 0.000124866,
                             'micro_batches': 2},
                            {'rank': 1,
                             'stage': 1,
                             'tp_rank': 0,
                             'layers': 2,
                             'stage_time_s': 0.000677629,
                             'stage_timing': _timing(0.000677629, 3),
                             'pipeline_time_s': 0.00258847,
                             'pipeline_timing': _timing(0.00258847, 3),
                             'allreduce_time_s': None,
                             'allreduce_bytes': 2048,
                             'p2p_time_s': 0.000124485,
                             'micro_batches': 2}],
                  'critical_path': {'stage_times_s': [0.000596999, 0.000677629],
                                    'slowest_stage': 1,
                                    'time_s': 0.00258847},
                  'measured': {'stage_times_s': [0.000596999, 0.000677629],
                               'bubble_fraction': 0.507576,
                               'comm_time_s': 0.000249351,
                               'comm_share': 0.0963315,
                               'allreduce_time_s': None,
                               'p2p_time_s': 0.000124676},
                  'analytic': {'flops': 4716800.0,
                               'bytes': 1870850.0,
                               'weight_bytes': 1253890.0,
                               'act_read_bytes': 340480.0,
                               'act_write_bytes': 260096.0,
                               'kv_read_bytes': 8192.0,
                               'kv_write_bytes': 8192.0,
                               'intensity': 2.52121,
                               'compute_time_s': 5.84191e-05,
                               'memory_time_s': 7.36995e-05,
                               'comm_time_s': 0.000639813,
                               'time_s': 0.000695454,
                               'bound': 'memory',
                               'tokens': 16,
                               'micro_batches': 2,
                               'stage_times_s': [0.000337573, 2.03085e-05],
                               'bubble_fraction': 0.485399,
                               'gpipe_bubble_fraction': 0.333333,
                               'pass_bubble_fraction': 0.485399},
                  'roofline_time_s': 0.000695454,
                  'roofline_fraction': 0.268673,
                  'achieved_bytes_per_s': 722761000.0,
                  'achieved_flops_per_s': 1822230000.0,
                  'ttft_s': 0.00258847,
                  'tokens_per_s': 6181.25,
                  'bytes_per_token': 116928.0},
                 {'phase': 'decode',
                  'batch': 2,
                  'context_len': 16,
                  'status': 'ok',
                  'micro_batches': 1,
                  'time_s': 0.00154996,
                  'ranks': [{'rank': 0,
                             'stage': 0,
                             'tp_rank': 0,
                             'layers': 2,
                             'stage_time_s': 0.000601757,
                             'stage_timing': _timing(0.000601757, 5),
                             'pipeline_time_s': 0.00088948,
                             'pipeline_timing': _timing(0.00088948, 4),
                             'allreduce_time_s': None,
                             'allreduce_bytes': 512,
                             'p2p_time_s': 0.000167039,
                             'micro_batches': 1},
                            {'rank': 1,
                             'stage': 1,
                             'tp_rank': 0,
                             'layers': 2,
                             'stage_time_s': 0.000398353,
                             'stage_timing': _timing(0.000398353, 5),
                             'pipeline_time_s': 0.00154996,
                             'pipeline_timing': _timing(0.00154996, 4),
                             'allreduce_time_s': None,
                             'allreduce_bytes': 512,
                             'p2p_time_s': 9.70148e-05,
                             'micro_batches': 1}],
                  'critical_path': {'stage_times_s': [0.000601757, 0.000398353],
                                    'slowest_stage': 0,
                                    'time_s': 0.00154996},
                  'measured': {'stage_times_s': [0.000601757, 0.000398353],
                               'bubble_fraction': 0.677376,
                               'comm_time_s': 0.000132027,
                               'comm_share': 0.0851806,
                               'allreduce_time_s': None,
                               'p2p_time_s': 0.000132027},
                  'analytic': {'flops': 674176.0,
                               'bytes': 736512.0,
                               'weight_bytes': 625408.0,
                               'act_read_bytes': 51200.0,
                               'act_write_bytes': 42496.0,
                               'kv_read_bytes': 16384.0,
                               'kv_write_bytes': 1024.0,
                               'intensity': 0.915363,
                               'compute_time_s': 8.34989e-06,
                               'memory_time_s': 2.90139e-05,
                               'comm_time_s': 0.000317727,
                               'time_s': 0.000346741,
                               'bound': 'memory',
                               'tokens': 2,
                               'micro_batches': 1,
                               'stage_times_s': [0.000330888, 1.58533e-05],
                               'bubble_fraction': 0.476044,
                               'gpipe_bubble_fraction': 0.5,
                               'pass_bubble_fraction': 0.5},
                  'roofline_time_s': 0.000346741,
                  'roofline_fraction': 0.223709,
                  'achieved_bytes_per_s': 475180000.0,
                  'achieved_flops_per_s': 434963000.0,
                  'tpot_s': 0.00154996,
                  'tokens_per_s': 1290.35,
                  'bytes_per_token': 368256.0}],
     'nvml': {'status': 'off: not sampled in parallel runs', 'source': None},
     'parallel': {'tp': 1,
                  'pp': 2,
                  'micro_batches': 2,
                  'world_size': 2,
                  'backend': 'gloo',
                  'stage_layers': [2, 2],
                  'link': {'method': 'ring all-reduce model fitted to all-reduces of 4096 and 16777216 bytes over 2 '
                                     'ranks',
                           'sizes_bytes': [4096, 16777216],
                           'times_s': [0.000639813, 0.0244373],
                           'bandwidth_bytes_per_s': 704828000.0,
                           'latency_s': 0.000317001},
                  'layout': 'rank = stage * tp + tp_rank'},
     'roofline': {'measured': {'peak_flops_per_s': 80740700000.0,
                               'bandwidth_bytes_per_s': 25384800000.0,
                               'label': 'measured ceilings and measured link'},
                  'datasheet': None}}
# fmt: on


def test_parallel_run_report_sets_measured_beside_analytic() -> None:
    page = render_report(copy.deepcopy(RUN))
    sections = set(re.findall(r'<section id="([a-z]+)"', page))
    assert sections == {"headline", "roofline", "bytes", "attention", "parallel", "environment", "raw"}
    assert "Left out because" not in page
    assert "Measured on 2 ranks (tp 1 x pp 2, gloo)" in page
    assert "Achieved bandwidth (decode, per rank)" in page and "achieved B/s per rank" in page
    assert 'aria-labelledby="fig-parallel-title"' in page and 'aria-labelledby="fig-parallel-memory-title"' in page
    link = RUN["parallel"]["link"]["bandwidth_bytes_per_s"]
    assert f"Measured link: {si(link, 'B/s')}" in page


def test_parallel_table_and_per_rank_rates() -> None:
    record = copy.deepcopy(RUN)
    decode = next(c for c in record["configs"] if c["phase"] == "decode")
    typed = ProfileRecord.from_dict(record)  # what the view reads
    table = profile_view.parallel_table([c for c in typed.configs if c.ok])
    rows = {row[0]["text"]: row for row in table["rows"]}
    row = rows["decode b=2 c=16"]
    assert row[4]["sort"] == decode["measured"]["comm_share"]
    assert row[6]["sort"] == decode["measured"]["bubble_fraction"]
    assert row[7]["sort"] == decode["analytic"]["pass_bubble_fraction"]

    def read() -> tuple:  # the run as the view reads it, after each edit below: its decode and itself
        typed = ProfileRecord.from_dict(record)
        return next(c for c in typed.configs if c.phase == "decode"), typed

    # Rates are all ranks' analytic totals over the pass; set against one rank's ceilings, they are halved.
    assert profile_view.achieved(*read()) == (decode["achieved_bytes_per_s"] / 2,
                                              decode["achieved_flops_per_s"] / 2)
    # No verdict in a parallel run's file: the rule applies to the per-rank rates, the larger share wins.
    ceilings = record["roofline"]["measured"]
    shares = (decode["achieved_flops_per_s"] / 2 / ceilings["peak_flops_per_s"],
              decode["achieved_bytes_per_s"] / 2 / ceilings["bandwidth_bytes_per_s"])
    assert profile_view.bound_measured(*read()) == ("compute" if shares[0] > shares[1] else "memory")
    record["roofline"]["measured"]["peak_flops_per_s"] = decode["achieved_flops_per_s"] / 1e3  # a low compute roof
    assert profile_view.bound_measured(*read()) == "compute"
    record["roofline"]["measured"]["peak_flops_per_s"] = 1e30  # an endless one
    assert profile_view.bound_measured(*read()) == "memory"
    decode["bound_measured"] = "compute"  # a recorded verdict is the run's own, and wins
    assert profile_view.bound_measured(*read()) == "compute"


def test_single_device_runs_have_no_parallel_section() -> None:
    record = copy.deepcopy(RUN)
    del record["parallel"]
    typed = ProfileRecord.from_dict(record)
    assert profile_view.parallel(typed) is None
    assert "achieved bandwidth is" in profile_view.headline(typed)["verdict"]  # no longer per rank
