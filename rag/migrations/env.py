"""Alembic environment: migrations run on the connection `rag.database` hands over, inside its transaction.

There is no alembic.ini: `rag.database` builds the Config in code and puts an open connection (already in
a transaction that holds the database's write lock) into `config.attributes["connection"]`.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the history migrations run through rag.database (History opens and migrates the database)")

context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
