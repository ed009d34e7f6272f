"""Shared foundations every stage stands on: settings (``invoke.yaml``), the console (the only printer), errors and exit codes, redaction, named retry policies, the boto3 factory, the argv runner, Ctrl-C handling, the TCP probe, the run-time files shipped in the package, value types (platforms, image references) and the typed runtime.

Imports: the standard library; tenacity (retrying); boto3/botocore, PyYAML and colorama lazily, inside the functions that need them; never a stage package.
"""
