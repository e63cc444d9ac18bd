"""Alembic migrations of the history database, run by `rag.history.History` when it first opens a database."""
