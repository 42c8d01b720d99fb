"""Alembic environment: migrates the database of the service named by the ini section."""

from logging.config import fileConfig
from typing import Any

from alembic import context

from services import service_settings, service_tables
from services.migrate import compare_type, render_item
from shared.db import make_engine, metadata_of

config = context.config
service = config.config_ini_section
if config.config_file_name is not None and not config.attributes.get("quiet"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata_of(service_tables(service))
url = config.attributes.get("url") or service_settings(service).effective_database_url


options: dict[str, Any] = {
    "target_metadata": target_metadata,
    "render_item": render_item,
    "compare_type": compare_type,
    "render_as_batch": True,
}

if context.is_offline_mode():
    context.configure(url=url, literal_binds=True, **options)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
