"""The CodeBuild stage: the build model shared by every runner (Build, Phase, StartRequest, the BuildBackend protocol), the CodeBuild adapter, the lossless log follower and the wait.

Imports: core only (image references and platforms are core value types).
"""
