"""Meetings (办会): rooms, conflict-free booking, notices, RSVP, sign-in, minutes, calendar export."""

from meetings.views import bp

__all__ = ["bp"]
