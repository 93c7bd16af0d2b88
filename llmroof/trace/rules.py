"""Kernel classification: an ordered rule table kept as data (``data/kernel_rules.toml``), first match wins.

A rule is a regular expression searched in the kernel's name (case-insensitively), its category and, for
some, a role for attribution (``embed``: the embedding lookup; ``reduce``: the second launch of a split
kernel, merged into the op before it). Users put their own rules first with ``--rules FILE``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from llmroof.errors import LlmroofError, shorten

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CATEGORIES = (
    "gemm",
    "attention_prefill",
    "attention_decode",
    "kv_cache_write",
    "norm",
    "rope",
    "activation",
    "moe_routing",
    "moe_gemm",
    "communication",
    "quantize",
    "sampling",
    "elementwise",
    "copy",
    "other",
)
"""Every category a kernel can get (``attention`` in a rule becomes prefill or decode by the step's phase)."""
ROLES = ("embed", "reduce")
RULES_FILE = Path(__file__).parent / "data" / "kernel_rules.toml"


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    category: str
    role: str | None = None


def parse_rules(data: Any, source: str) -> tuple[Rule, ...]:
    """The ``[[rule]]`` entries of a parsed TOML document, checked."""
    entries = data.get("rule") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise LlmroofError(
            f"{source}: expected [[rule]] entries", "see llmroof/trace/data/kernel_rules.toml"
        )
    rules = []
    for index, entry in enumerate(entries):
        where = f"{source}: rule {index + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("pattern"), str):
            raise LlmroofError(f"{where}: needs a pattern", 'pattern = "regex", category = "gemm"')
        category, role = entry.get("category"), entry.get("role")
        if category not in (*CATEGORIES, "attention"):
            raise LlmroofError(
                f"{where}: unknown category {shorten(repr(category), 40)}",
                f"one of {', '.join(CATEGORIES)}",
            )
        if role is not None and role not in ROLES:
            raise LlmroofError(
                f"{where}: unknown role {shorten(repr(role), 40)}", f"one of {', '.join(ROLES)}"
            )
        try:
            pattern = re.compile(entry["pattern"], re.IGNORECASE)
        except re.error as exc:
            raise LlmroofError(
                f"{where}: invalid pattern ({exc})", "a Python regular expression"
            ) from None
        rules.append(Rule(pattern, category, role))
    return tuple(rules)


@lru_cache(maxsize=1)
def builtin_rules() -> tuple[Rule, ...]:
    return parse_rules(tomllib.loads(RULES_FILE.read_text(encoding="utf-8")), "kernel_rules.toml")


def read_rules(path: str | Path) -> tuple[Rule, ...]:
    """A user's rule file."""
    from llmroof.readers import decode_text, read_bytes

    where = shorten(str(path))
    try:
        data = tomllib.loads(decode_text(read_bytes(Path(path)), where))
    except tomllib.TOMLDecodeError as exc:
        raise LlmroofError(
            f"{where}: invalid TOML ({exc})", "see llmroof/trace/data/kernel_rules.toml"
        ) from None
    return parse_rules(data, where)


class Classifier:
    """Names -> (category, role), each name matched once."""

    def __init__(self, extra: tuple[Rule, ...] = ()) -> None:
        self.rules = (*extra, *builtin_rules())
        self.cache: dict[str, tuple[str, str | None]] = {}

    def __call__(self, name: str) -> tuple[str, str | None]:
        found = self.cache.get(name)
        if found is None:
            rule = next((r for r in self.rules if r.pattern.search(name)), None)
            found = self.cache[name] = (
                ("other", None) if rule is None else (rule.category, rule.role)
            )
        return found
