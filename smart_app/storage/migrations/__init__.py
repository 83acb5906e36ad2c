"""Alembic migrations of the feedback database, shipped in the package so an installed product can run them.

Run with `smart-app db upgrade` (or at service start-up, see `smart_app.storage.migrate`); there is no alembic.ini:
the configuration is built in code, and the database URL never enters it (it may hold a password).
A new revision is a file `versions/rNNNN_what.py` like r0002 (`down_revision` the previous one); the test
tests/infra/test_migrations.py fails until the migrated schema equals `smart_app.storage.tables`.
"""
