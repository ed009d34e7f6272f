"""The image stage: platform assessment and build argv (pure), the Registry HTTP API v2 client, ECR tokens, the Docker endpoint resolver and the docker side (build, push, verify).

Imports: core only.
"""
