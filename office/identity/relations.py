"""Who may act for whom (secretaries and delegations), from a per-process snapshot.

Every flow step asks it several times: whose pending item may this person take
(``principals_of``) and who must hear of a to-do (``watchers_of``). Both used to be a query
per person per request, about a tenth of a busy worker's time. The two tables are small and
change rarely, so each process keeps them in memory:

- the snapshot carries the principal cache's *generation* (``office.auth.principal``); a
  committed change to a secretary link or a delegation bumps it (as changes to people do),
  so the next request in any process reloads;
- delegations are kept with their windows and filtered at the moment asked, so a window
  opening or closing needs no reload;
- within a transaction that changes either table, and outside a request, the database is
  asked directly: a service always sees its own writes;
- a snapshot older than ``MAX_AGE`` is reloaded anyway.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app, g, has_request_context
from sqlalchemy import select

from office.db import utcnow
from office.extensions import db
from office.identity.models import Delegation, SecretaryLink

#: Seconds a snapshot is trusted without a generation change (a backstop only).
MAX_AGE = 60.0

Window = tuple[int, datetime, datetime]


@dataclass
class Relations:
    gen: int
    loaded_at: float
    #: leader -> secretaries, secretary -> leaders
    secretaries: dict[int, tuple[int, ...]] = field(default_factory=dict)
    leaders: dict[int, tuple[int, ...]] = field(default_factory=dict)
    #: delegator -> (delegate, starts, ends), delegate -> (delegator, starts, ends); not
    #: revoked and not yet over when loaded.
    delegates: dict[int, tuple[Window, ...]] = field(default_factory=dict)
    delegators: dict[int, tuple[Window, ...]] = field(default_factory=dict)

    def watchers(self, user_id: int, at: datetime) -> set[int]:
        ids = set(self.secretaries.get(user_id, ()))
        ids.update(d for d, start, end in self.delegates.get(user_id, ()) if start <= at < end)
        return ids

    def principals(self, user_id: int, at: datetime) -> set[int]:
        ids = set(self.leaders.get(user_id, ()))
        ids.update(d for d, start, end in self.delegators.get(user_id, ()) if start <= at < end)
        return ids


_lock = threading.Lock()


def _generation() -> int:
    """The principal cache's generation, asked once per request."""
    if "_identity_gen" not in g:
        from office.auth import principal

        g._identity_gen = principal.cache().generation()
    return g._identity_gen


def _load(gen: int) -> Relations:
    now = utcnow()
    secretaries: dict[int, list[int]] = defaultdict(list)
    leaders: dict[int, list[int]] = defaultdict(list)
    for sec, lead in db.session.execute(select(SecretaryLink.secretary_id, SecretaryLink.leader_id)):
        secretaries[lead].append(sec)
        leaders[sec].append(lead)
    delegates: dict[int, list[Window]] = defaultdict(list)
    delegators: dict[int, list[Window]] = defaultdict(list)
    cols = (Delegation.delegator_id, Delegation.delegate_id, Delegation.starts_at, Delegation.ends_at)
    rows = db.session.execute(select(*cols).where(Delegation.revoked_at.is_(None), Delegation.ends_at > now))
    for frm, to, start, end in rows:
        delegates[frm].append((to, start, end))
        delegators[to].append((frm, start, end))
    return Relations(
        gen=gen,
        loaded_at=time.monotonic(),
        secretaries={k: tuple(v) for k, v in secretaries.items()},
        leaders={k: tuple(v) for k, v in leaders.items()},
        delegates={k: tuple(v) for k, v in delegates.items()},
        delegators={k: tuple(v) for k, v in delegators.items()},
    )


def _changing() -> bool:
    """Whether the current transaction changes who acts for whom (then it reads its own
    writes from the database)."""
    s = db.session()
    if s.info.get("principal_changed"):
        return True
    kinds = (SecretaryLink, Delegation)
    return any(isinstance(o, kinds) for o in (*s.new, *s.dirty, *s.deleted))


def snapshot() -> Relations | None:
    """The process's snapshot, fresh for this request; None where the database must answer."""
    if not has_request_context() or _changing():
        return None
    gen = _generation()
    ext = current_app.extensions
    current: Relations | None = ext.get("identity_relations")
    if current is not None and current.gen == gen and time.monotonic() - current.loaded_at < MAX_AGE:
        return current
    with _lock:
        current = ext.get("identity_relations")
        if current is None or current.gen != gen or time.monotonic() - current.loaded_at >= MAX_AGE:
            current = ext["identity_relations"] = _load(gen)
    return current
