"""The service benchmark: the Notification API next to a hand-written FastAPI + SQLAlchemy app.

Issue 5 asks what sqlrecord costs a real service, not only a loop of ORM calls:
``python -m benchmarks.service --db sqlite|postgres|mysql`` serves each app with uvicorn
in a child process, loads it from another process (wrk, 50 keep-alive connections
on loopback) on ``GET /api/users/me`` and ``POST /api/services/notifications``, and
reports req/s, p50 and p99 next to each other (target: the service at >= 90 % of the
hand-written app's req/s). The modules, in the order a run uses them:

- :mod:`.databases`: where each database lives, a fresh schema and the seed rows;
- :mod:`.plain_models`, :mod:`.plain_app`: the hand-written app (no sqlrecord);
- :mod:`.server`: the child process that serves one of the two apps;
- :mod:`.load`: the load, sent by wrk in a process of its own;
- :mod:`.runner`, :mod:`.report`: rounds, medians, the markdown and JSON results;
- :mod:`.profile`: where each app spends its time (pyinstrument), for a missed target.
"""

__all__: list[str] = []
