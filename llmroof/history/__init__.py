"""``llmroof history``: every CI run kept in a database, trends with change points, and a gate that reads
the history. Beside compare, after results: it reads results files with compare's own loader and metrics.

    store.py       the storage interface and its two backends (SQLite, PostgreSQL), schema and migrations
    extract.py     what a results file adds: one run per process, compare's metrics
    provenance.py  commit, branch and time from the options, the CI's variables or git
    detect.py      change points in one series (pure)
    trend.py       the use cases: add files, each series' trend and change points, the Otava export
    gate.py        ``compare --history``: a new run against the base branch's recent runs
    render.py      table, CSV, markdown and HTML of a history record

Nothing here imports torch or numpy; matplotlib only for HTML, psycopg only for PostgreSQL.
"""
