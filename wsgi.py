"""WSGI entry point for gunicorn (``gunicorn -k gevent -w 1 wsgi:app``) and ``flask --app wsgi``.

``socketio`` is exported too: it is the Socket.IO server bound to ``app``.

Under gunicorn every app process also starts the reminder scheduler as a background greenlet
(one process is elected the active one; see office/reminders/scheduler.py), unless
``OFFICE_SCHEDULER=0`` (then run ``python -m office scheduler`` as its own process) or the
app is TESTING. ``flask --app wsgi <command>`` imports this module too: Flask's CLI sets
``FLASK_RUN_FROM_CLI`` before it does, and then no scheduler starts here. Do not use
gunicorn's ``--preload``: the scheduler would start in the master, not in the workers.
"""

from office import create_app
from office.extensions import socketio
from office.reminders.scheduler import should_start_in_web_process, start_background

app = create_app()

if should_start_in_web_process(app):
    start_background(app)

__all__ = ["app", "socketio"]
