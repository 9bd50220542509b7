"""Alembic environment: runs against the connection handed over by costobs_server.metadata.db."""

from alembic import context

from costobs_server.metadata.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs need batch mode
)
with context.begin_transaction():
    context.run_migrations()
