"""Results files: atomic writes and the schemas of what llmroof records (``llmroof.profile/1``)."""
