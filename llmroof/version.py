"""The version of llmroof, in one place (pyproject reads it here)."""

__version__ = "0.2.0"
