"""Alembic environment: run by whatchanged on start with a live connection, or by the alembic CLI."""

from __future__ import annotations

from alembic import context

from daemon.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # pragma: no cover - CLI use: `alembic -c daemon/store/alembic.ini -x url=... upgrade head`
    from sqlalchemy import create_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database: give -x url=... or sqlalchemy.url in alembic.ini")
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
