"""Shared foundations: settings, the console (the only printer), errors and exit codes, redaction, named retry policies, the boto3 factory, the argv runner, value types (platforms, image references) and the typed runtime.

Imports: the standard library, boto3/colorama lazily where noted; never a stage package.
"""
