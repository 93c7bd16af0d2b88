"""Results files: the typed records of every file llmroof writes (:mod:`llmroof.results.records`, whose schema
names live in :mod:`llmroof.schemas`), their streaming and saving, and the HTML shell of the reports."""
