"""``invoke diagnose``: the failure catalogue (data), the streaming matcher and the report (pure),
the build/log source and the follow-up checks (adapters, injected).

Imports: core, image (the registry follow-up), codebuild (the build model, the log pages); never
release or provision: the backend, the log stream and doctor's network checks are handed in.
"""
