"""Attachment store: file contents on disk by SHA-256, one database row per upload.

Feature packages keep a foreign key to :class:`office.files.models.StoredFile` and call
:mod:`office.files.services` to store and read; they never touch the directory themselves.
"""
