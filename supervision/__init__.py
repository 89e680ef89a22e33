"""Supervision (督查督办): supervised tasks, decomposition, deadlines, reports, urging, review."""

from supervision.views import bp

__all__ = ["bp"]
