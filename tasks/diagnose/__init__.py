"""``invoke diagnose``: the failure catalogue (data), the streaming matcher and the report (pure),
the build/log source and the follow-up checks (adapters, injected)."""
