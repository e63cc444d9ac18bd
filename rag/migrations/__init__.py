"""Alembic migrations of the history database, run by `rag.database` when a History first opens a database."""
