"""The release: the pipeline (steps as data, executors) and the actions behind db.*, build.* and release.

Modules: ``flow`` (``invoke release``), ``db_actions`` (db.migrate / db.seed), ``builds``
(build.wait / logs / stop / list, and the follow every action ends with), ``guards`` (seed
allow-list, pinned image, concurrency, confirmation), ``failure`` (the diagnosis hook),
``collaborators`` (caller, backend, waiter from ``Services``), ``pipeline``, ``state``; the
plan (``plan*``, ``status``, ``lint``, ``blockers``), ``snapshot`` and the report (``report*``).

Imports: every stage below it; nothing imports release except the invoke layer and the wiring.
"""
