"""The release: the pipeline (steps as data, executors) and the actions behind db.*, build.* and release.

Modules: ``flow`` (``invoke release``), ``db_actions`` (db.migrate / db.seed), ``builds``
(build.wait / logs / stop / list, and the follow every action ends with), ``guards`` (seed
allow-list, pinned image, concurrency, confirmation), ``failure`` (the diagnosis hook),
``collaborators`` (caller, backend, waiter from ``Services``), ``start`` (the one StartRequest
builder and its preview), ``pipeline``, ``state``; the plan (``plan*``, ``status``, ``lint``,
``history``), ``snapshot`` and the report (``report*``).

Imports: core, image, codebuild, local, diagnose, provision (every stage below it); nothing
imports release except the wiring and the invoke layer.
"""
