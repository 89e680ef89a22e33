"""Full-text search: one engine interface, Chinese analysis, the outbox, permission-filtered results."""
