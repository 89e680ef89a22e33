"""Who is acting: the signed-in person, whom they act for, and from where."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, has_request_context, request

from office.identity.models import User


@dataclass(frozen=True)
class Actor:
    """The acting person. ``on_behalf_of`` is set when a secretary or delegate acts for
    someone else; records then show both."""

    user: User | None
    on_behalf_of: User | None = None
    ip: str | None = None
    user_agent: str | None = None
    #: The system itself (CLI commands such as ``init``): no person, full rights.
    system: bool = False

    @property
    def effective(self) -> User | None:
        """The person whose rights and work this action uses."""
        return self.on_behalf_of or self.user


SYSTEM = Actor(user=None, system=True)


def current_actor() -> Actor:
    """The actor for this request (SYSTEM outside a request, e.g. in CLI commands)."""
    if not has_request_context():
        return SYSTEM
    return Actor(
        user=g.get("user"),
        on_behalf_of=g.get("on_behalf_of"),
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:255] or None,
    )
