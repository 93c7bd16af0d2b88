"""The package's shape: no import cycles between modules, and imports that point one way down the layers
(specs -> analytic -> measure -> results -> report / compare / plan -> cli). Read from the source with
``ast``, every import counted: lazy ones inside functions, and those under ``if TYPE_CHECKING:`` (a circle of
types is still a circle of concerns)."""

from __future__ import annotations

import ast
from pathlib import Path

import llmroof

PACKAGE = Path(llmroof.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name; the top-level ``kernels/`` folder of a source checkout
    (linked as ``llmroof/kernels``, which rglob does not follow) installs as ``llmroof.kernels``, so it counts
    under that name."""
    found = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    kernels = (PACKAGE / "kernels" if (PACKAGE / "kernels").is_dir() else PACKAGE.parent / "kernels").resolve()
    if kernels.is_dir():
        for p in kernels.rglob("*.py"):
            parts = p.relative_to(kernels).with_suffix("").parts
            found[".".join(("llmroof", "kernels", *parts[:-1], *([] if parts[-1] == "__init__" else parts[-1:])))] = p
    return found


def imports(this: str, path: Path, known: set[str]) -> set[str]:
    """The llmroof modules that module ``this`` (at ``path``) imports (``from pkg import sub`` counts as
    importing ``pkg.sub``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    return {name for name in found if name in known and name != this}


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return out


def test_the_graph_sees_real_imports() -> None:
    edges = graph()
    assert "llmroof.analytic.comm" in edges["llmroof.results.records.analysis"]
    assert "llmroof.errors" in edges["llmroof.specs.model"]
    assert "llmroof.kernels.layers" in edges  # the kernels, under their installed name
    assert "llmroof.kernels.layers" in edges["llmroof.measure.profile"]


def test_no_import_cycles() -> None:
    found = cycles(graph())
    assert found == [], f"import cycles: {found}"


def test_cycles_are_detected() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# A rule for every layer: specs -> analytic -> measure (kernels, bench) -> results -> report/compare/plan ->
# runs -> cli. The layers beside each other (report, compare, plan) read records; none runs a measurement.
ABOVE_RESULTS = ("measure", "kernels", "bench", "runs", "cli", "api")
FORBIDDEN = {
    "llmroof.specs": ("analytic", "measure", "kernels", "bench", "runs", "results", "report", "compare", "plan",
                      "cli", "api"),
    "llmroof.analytic": ("measure", "kernels", "bench", "runs", "results", "report", "compare", "plan", "cli",
                         "api"),
    "llmroof.measure": ("bench", "runs", "results", "report", "compare", "plan", "cli", "api"),
    "llmroof.kernels": ("bench", "runs", "results", "report", "compare", "plan", "cli", "api"),
    "llmroof.results": ("report", "compare", "plan", "runs", "cli", "api"),
    "llmroof.report": ABOVE_RESULTS,
    "llmroof.compare": ABOVE_RESULTS,
    "llmroof.plan": ABOVE_RESULTS,
    "llmroof.bench": ("report", "compare", "plan", "cli", "api"),  # a measurement: it writes its record through results
    "llmroof.runs": ("report", "compare", "plan", "cli", "api"),  # whole measurements, as the CLI and the API run them
    "llmroof.history": ("report", "plan", "cli", "api"),  # beside compare, whose loader and metrics it reads
    "llmroof.simulate": ("report", "compare", "cli", "api"),  # beside plan: it uses the plan's step model
    "llmroof.trace": ("report", "compare", "plan", "cli", "api"),  # beside compare/plan, above analytic and measure
    # what each command takes, as data: read by the CLI and the API, it reads nothing above specs
    "llmroof.commands": ("analytic", "measure", "kernels", "bench", "runs", "results", "report", "compare", "plan",
                         "history", "simulate", "trace", "cli", "api"),
}


# Pure functions of a layer above that a lower or side layer may call: statistics over samples measure nothing.
EXEMPT = {"llmroof.measure.stats"}

# The records are data only (they import schemas, labels and errors, nothing of analytic or above), so the
# measurement layer builds and reads the records it produces instead of string-keyed dicts (issue 21):
# ``llmroof.results.records`` sits below measure; the rest of ``llmroof.results`` (save, repeat, io) stays above.
RECORDS = "llmroof.results.records"
MAY_IMPORT_RECORDS = ("llmroof.measure", "llmroof.kernels")


def _exempt(module: str, target: str) -> bool:
    return target in EXEMPT or (
        (target == RECORDS or target.startswith(RECORDS + "."))
        and any(module == m or module.startswith(m + ".") for m in MAY_IMPORT_RECORDS)
    )


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, targets in graph().items():
        for layer, above in FORBIDDEN.items():
            if module == layer or module.startswith(layer + "."):
                wrong += [f"{module} -> {t}" for t in targets if not _exempt(module, t)
                          and any(t == f"llmroof.{a}" or t.startswith(f"llmroof.{a}.") for a in above)]
    assert wrong == []


def test_the_records_are_data_only() -> None:
    """What lets measure import them: a record module imports no layer at or above measure (only other
    records, schemas, labels, errors, version, ``results.io`` inside ``load()``, and the layers below measure:
    specs, and analytic's domain types that a record derives from instead of mirroring them, as
    ``CommEntry`` derives from ``analytic.comm.CommOp``)."""
    allowed = ("llmroof.results.records", "llmroof.results.io", "llmroof.schemas", "llmroof.labels",
               "llmroof.errors", "llmroof.version", "llmroof.specs", "llmroof.analytic")
    wrong = [f"{module} -> {t}" for module, targets in graph().items()
             if module == RECORDS or module.startswith(RECORDS + ".")
             for t in targets if not any(t == a or t.startswith(a + ".") for a in allowed)]
    assert wrong == []
