"""Side-by-side benchmarks of sqlrecord against its driver, SQLAlchemy and its peers.

Run with ``./scripts/bench --db sqlite|postgres|mysql [--full|--smoke]``; the method and the
results are in ``docs/benchmarks.md``.
"""
