"""WSGI entry point for gunicorn (``gunicorn -k gevent -w 1 wsgi:app``) and ``flask --app wsgi``.

``socketio`` is exported too: it is the Socket.IO server bound to ``app``.
"""

from office import create_app
from office.extensions import socketio

app = create_app()

__all__ = ["app", "socketio"]
