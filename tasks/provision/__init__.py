"""AWS preparation: doctor (checks, pure), the facts it reads (read-only adapter), setup (read, plan, apply) and IAM policy evaluation.

Imports: core, image, codebuild, local (the buildspec parser).
"""
