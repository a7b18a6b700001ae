"""Storage: SQLAlchemy models, the database connection, units of work, migrations."""
