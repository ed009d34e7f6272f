"""The release and database-migration suite.

``tasks.py`` at the top level is invoke's entry and assembles the collection; this package
holds the code. This file stays empty: invoke never executes it (it loads ``tasks.py`` and
points that module's ``__path__`` here), while pytest and mypy import it as a normal package.
"""
