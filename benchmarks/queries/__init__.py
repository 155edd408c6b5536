"""Issue 20's query forms side by side: atomic F updates, ``bulk_update``, annotations.

``./scripts/bench --queries --db sqlite|postgres|mysql [--rounds 3]`` runs, in one process,
each form as a user of each library writes it with that library's defaults:

- **increment**: 300 single-row ``views + 1`` by key, each its own call. sqlrecord's
  ``filter_by(id=k).update(views=F("views") + 1)`` and ``obj.update(views=F("views") + 1)``
  against its own load-modify-save (``get``, ``+= 1``, ``save``: two statements and a race),
  the SQLAlchemy ORM's ``update(...).values(views=Counter.views + 1)`` and load-modify-flush,
  and Tortoise's ``filter(id=k).update(views=F("views") + 1)``.
- **bulk_update**: new values on 1,000 loaded objects written back. ``Model.bulk_update(objs,
  ["views"])`` against a loop of ``save()`` in one transaction, the ORM's bulk UPDATE by
  primary key (``session.execute(update(Counter), rows)``) and Tortoise's ``bulk_update``.
- **annotate**: 300 authors, each with its number of books (1,500 books).
  ``Author.annotate(n=Count("books")).all()`` against the hand-written ORM query (an outer
  join grouped by author) and Tortoise's ``annotate(n=Count("books"))``.
- **group_by**: books per author, count and page total. ``Book.group_by("author_id")
  .aggregate(...)`` against the ORM's ``select(...).group_by(...)`` and Tortoise's
  ``annotate(...).group_by(...).values(...)``.

The two reads run 50 times a round (a single call would mostly measure its first run).
Each row is the median of ``--rounds`` rounds (the rows are reset before every round); the
table gives milliseconds per call and sqlrecord's time divided by the ORM's and Tortoise's.
Results go to ``docs/benchmarks/queries-<db>.json`` and ``.md``.
"""
