"""The table-driven workflow engine shared by documents (and later meetings, supervision)."""
