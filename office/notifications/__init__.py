"""The notification inbox: persisted, so a client that was offline loses nothing."""
