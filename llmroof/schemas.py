"""The name and version of every results file llmroof writes, each defined once here.

A leaf module (it imports nothing), so that the writers of every layer (analytic, measure, plan, compare,
the CLI) and the one reader per schema (``llmroof.results.records``) share the same strings. Within a
version, keys may be added but none removed or renamed; a change of meaning takes a new version.
"""

ANALYSIS = "llmroof.analysis/1"
"""``llmroof analyze --format json``: one analytic workload."""
SWEEP = "llmroof.sweep/1"
"""``llmroof analyze --sweep``: one analysis per value of an axis."""
GRID = "llmroof.grid/1"
"""``llmroof analyze --sweep`` over several axes (or with ``--out``): the frontier of a grid sweep."""
PROFILE = "llmroof.profile/1"
"""``llmroof profile``'s ``results.json``: a measured run (single-device or parallel)."""
SAMPLE = "llmroof.sample/1"
"""``llmroof sample``: NVML samples of a GPU."""
COMM = "llmroof.comm/1"
"""``llmroof comm``: collective bandwidth."""
COMPARE = "llmroof.compare/1"
"""``llmroof compare --format json``: two sides of profile runs compared."""
COMPARE_TRACE = "llmroof.compare.trace/1"
"""``llmroof compare --format json`` of two ``llmroof.trace/1`` results: phase by phase and op by op."""
PLAN = "llmroof.plan/1"
"""``llmroof plan --format json``: a capacity plan."""
BENCH = "llmroof.bench/1"
"""``llmroof bench``'s ``results.json``: a serving engine under load, each level on the roofline."""
HISTORY = "llmroof.history/1"
"""``llmroof history show|check --format json``: a history database's series and their change points."""
SIMULATE = "llmroof.simulate/1"
"""``llmroof simulate``: a simulated serving replica or fleet under a traffic."""
TRACE = "llmroof.trace/1"
"""``llmroof trace --format json``: a profiler trace's kernels on the roofline."""
CEILINGS = "llmroof.ceilings/1"
"""``llmroof ceilings --format json``: this machine's calibrated roofs and its dispatch floor."""
CEILINGS_CACHE = "llmroof.ceilings.cache/1"
"""The per-machine calibration cache (``$XDG_CACHE_HOME/llmroof/ceilings/*.json``): one machine
fingerprint's measured figures, reused by every ``profile`` and ``ceilings``. Caches written before it
had its own schema (0.2.0) name ``llmroof.ceilings/1`` and are read still."""


def prefix(schema: str) -> str:
    """``llmroof.profile/1`` -> ``llmroof.profile/``: what a reader of any version of the schema checks."""
    return schema.partition("/")[0] + "/"
