"""The local runner: the buildspec parser (pure), the runner that executes a buildspec with CodeBuild's semantics as a BuildBackend, and the local environment (engine, registry, PostgreSQL).

Imports: core, image, codebuild.
"""
