"""``python -m llmroof``."""

from llmroof.cli.main import main

main()
