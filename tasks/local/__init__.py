"""The local runner: runs a buildspec on this machine with CodeBuild's semantics as a ``BuildBackend``, so every build task works on ``--env local``; and the local environment it runs in (engine, registry, PostgreSQL).

Modules: ``buildspec`` (the parser and checker, pure), ``runner`` (the worker's entry and the public face), ``backend`` (``LocalBackend``), ``worker`` (the phase engine), ``shell`` (one shell session per command list), ``secrets_manager`` (``env.secrets-manager`` from the local store), ``state`` (the build folder on disk), ``processes`` (pids, stop signals, what a dead build left running), ``environment`` (``local.up``/``local.down``), ``daemons`` (starting and stopping dockerd, the registry, PostgreSQL), ``database`` (one read-only query on the local database, for the diagnosis's blocking-sessions follow-up, handed to it by the wiring).

Imports: core, and codebuild (the build model it implements); never image, provision, diagnose, release or cli.
"""
