"""Real-time push: authenticated Socket.IO connections (``sockets``) and events queued during
a transaction and emitted only after it commits (``services``)."""
