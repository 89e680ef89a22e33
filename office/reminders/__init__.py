"""Reminders (临期 / 逾期 and, later, meetings and supervision) and the scheduler that sends them.

``services.run_due_reminders`` does one pass over every registered reminder source; each
reminder goes out once per item and kind because its row is inserted first with
ON CONFLICT DO NOTHING, and only the process whose insert went in notifies.
``scheduler`` runs that pass every interval in exactly one active process.
"""
