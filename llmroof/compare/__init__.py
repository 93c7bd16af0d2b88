"""``llmroof compare``: two profile runs (or folders of repeated runs), metric by metric, with confidence
intervals and a verdict for CI gates.

    stats.py        pure statistics: Welch's t on logs for the ratio, order-statistic median intervals
    metrics.py      what is compared, which way is better, samples from a results record
    load.py         read and check results files and folders
    differences.py  model, device and workload mismatches; environment changes that could explain a shift
    comparison.py   match configurations and ops, rows, verdicts, exit codes
    text.py         table cells, headers and the summary line shared by the outputs
    table.py, markdown.py, bmf.py, html.py: the outputs

Nothing here imports torch, numpy or pandas; matplotlib only for the HTML roofline. This file imports
nothing, so the CLI can read ``metrics.METRICS`` for its help without loading the rest; the entry points are
``comparison.compare_paths`` and ``comparison.CompareSettings``.
"""
