"""The release: the pipeline (steps as data, executors) and the actions behind db.*, build.* and release.

Imports: every stage below it; nothing imports release except the invoke layer and the wiring.
"""
