"""Each PostgreSQL test's own schema, made from one migrated once per test process.

Migrating every test's schema and dropping it afterwards cost about 1.3 s a test on this
machine (1 s for the chain, 0.1-0.5 s for the drop), most of a PostgreSQL test's time. The
chain now runs once per test process, into a template schema. A test gets a schema a
finished test gave back, put back as the template is: every row deleted, the template's
rows (the Alembic revision) copied in, every sequence set as the template's. A schema whose
shape a test changed (a migration down and up again, a column added) is dropped instead.
When none is free, a new one is made from the template's dump (pg_dump, once per process),
or migrated where there is no pg_dump that can dump the server.

A test that wants the shipped pack and the small team (`commands`) gets them the same way:
copied from a schema they were written into once, in the test's own empty schema.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from engine.store.database import Database

#: What a schema is made of, in a form two schemas can be compared in (each line written
#: with the schema's own name as `:schema`): its tables and their columns, constraints,
#: indexes, triggers, sequences and functions. Its rows are not part of it.
SHAPE = """
SELECT c.relname || ' ' || c.relkind::text || ' ' || coalesce(string_agg(
    a.attnum::text || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
    || ' ' || a.attnotnull::text || ' ' || a.attidentity::text || a.attgenerated::text
    || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum), '')
FROM pg_class c
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relnamespace = cast(:schema AS regnamespace)
GROUP BY c.relname, c.relkind
UNION ALL
SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
WHERE connamespace = cast(:schema AS regnamespace)
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = cast(:schema AS regnamespace)
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = cast(:schema AS regnamespace) AND NOT t.tgisinternal
UNION ALL
SELECT 'sequence ' || c.relname || ' ' || concat_ws(' ', s.seqtypid::regtype::text, s.seqstart,
    s.seqincrement, s.seqmin, s.seqmax, s.seqcycle) FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = cast(:schema AS regnamespace)
UNION ALL
SELECT 'function ' || p.oid::regprocedure::text || ' ' || md5(coalesce(p.prosrc, ''))
FROM pg_proc p WHERE p.pronamespace = cast(:schema AS regnamespace)
"""


def postgres_schema_url(base: str, schema: str) -> str:
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


def schema_of(url: str) -> str:
    """The schema a URL of `postgres_schema_url` names."""
    return url.rsplit("search_path%3D", 1)[1]


class PostgresSchemas:
    """The PostgreSQL schemas of one test process: taken by a test, given back after it."""

    def __init__(self, base_url: str, seed: Callable[[Database], None]) -> None:
        self.base_url = base_url
        self.seed = seed
        self.admin: Engine = create_engine(Database(base_url).url)
        self.template = f"template_{uuid.uuid4().hex[:12]}"
        with self.admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {self.template}"))
        self._migrate(self.template)
        self.script = self._dump()
        self.shape = self._shape(self.template)
        self.emptying = self._copying(self.template)
        self.seeded: str | None = None
        self.seeding = ""
        self.free: list[str] = []

    def take(self, *, seeded: bool = False) -> str:
        """Return the URL of an empty, migrated schema of the caller's own; with `seeded`,
        holding what `seed` writes."""
        url = postgres_schema_url(self.base_url, self.free.pop() if self.free else self._new())
        if seeded:
            if self.seeded is None:
                self.seeded = schema_of(self.take())
                database = Database(postgres_schema_url(self.base_url, self.seeded))
                try:
                    self.seed(database)
                finally:
                    database.dispose()
                self.seeding = self._copying(self.seeded)
            with self.admin.begin() as connection:
                connection.exec_driver_sql(self.seeding.replace(":schema", schema_of(url)))
        return url

    def give_back(self, url: str) -> None:
        """Take back a schema its test has finished with: empty it for the next, or drop it."""
        schema = schema_of(url)
        if self._shape(schema) == self.shape:
            try:
                with self.admin.begin() as connection:
                    connection.exec_driver_sql(self.emptying.replace(":schema", schema))
            except DBAPIError:  # rows the order of deletes cannot remove: make a new one
                pass
            else:
                self.free.append(schema)
                return
        self._drop(schema)

    def close(self) -> None:
        for schema in [*self.free, self.seeded, self.template]:
            if schema is not None:
                self._drop(schema)
        self.admin.dispose()

    def _new(self) -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        if self.script is None:
            with self.admin.begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            self._migrate(schema)
        else:
            with self.admin.begin() as connection:
                connection.exec_driver_sql(self.script.replace(self.template, schema))
        return schema

    def _migrate(self, schema: str) -> None:
        database = Database(postgres_schema_url(self.base_url, schema))
        database.migrate()
        database.dispose()

    def _drop(self, schema: str) -> None:
        with self.admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))

    def _shape(self, schema: str) -> list[str]:
        with self.admin.connect() as connection:
            lines = connection.execute(text(SHAPE), {"schema": schema}).scalars()
            return sorted(line.replace(schema, ":schema") for line in lines)

    def _copying(self, source: str) -> str:
        """The SQL that makes a schema of the template's shape, `:schema`, hold what `source`
        holds: its rows, and its sequences where they are."""
        with self.admin.connect() as connection:
            tables = list(
                connection.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"),
                    {"schema": source},
                ).scalars()
            )
            references = connection.execute(
                text(
                    "SELECT conrelid::regclass::text, confrelid::regclass::text "
                    "FROM pg_constraint WHERE contype = 'f' "
                    "AND connamespace = cast(:schema AS regnamespace)"
                ),
                {"schema": source},
            ).all()
            filled = [
                table
                for table in tables
                if connection.execute(
                    text(f'SELECT EXISTS (SELECT FROM {source}."{table}")')
                ).scalar()
            ]
            sequences = connection.execute(
                text(
                    "SELECT sequencename, coalesce(last_value, start_value), "
                    "last_value IS NOT NULL FROM pg_sequences WHERE schemaname = :schema"
                ),
                {"schema": source},
            ).all()
        prefix = f"{source}."
        referrers: dict[str, set[str]] = {table: set() for table in tables}
        for child, parent in references:
            child, parent = child.removeprefix(prefix), parent.removeprefix(prefix)
            if child != parent:
                referrers[parent].add(child)
        ordered = referrers_first(referrers)
        statements = [f'DELETE FROM :schema."{table}"' for table in ordered]
        statements += [
            f'INSERT INTO :schema."{table}" SELECT * FROM {source}."{table}"'
            for table in reversed(ordered)
            if table in filled
        ]
        statements += [
            f'SELECT setval(\'":schema"."{name}"\', {value}, {str(called).lower()})'
            for name, value, called in sequences
        ]
        return ";\n".join(statements)

    def _dump(self) -> str | None:
        """The template as SQL that makes it again, or None without a pg_dump that can."""
        found = shutil.which("pg_dump")
        if found is None:
            return None
        url = self.admin.url
        libpq = url.set(drivername="postgresql", password=None)
        environment = dict(os.environ)
        if url.password is not None:
            environment["PGPASSWORD"] = str(url.password)
        done = subprocess.run(
            [found, "--schema", self.template, "--no-owner", "--no-privileges", "--inserts",
             f"--dbname={libpq.render_as_string(hide_password=False)}"],
            capture_output=True, text=True, env=environment, timeout=120,
        )  # fmt: skip
        if done.returncode != 0:  # e.g. a pg_dump older than the server: it refuses
            return None
        # psql's own commands (`\restrict` in newer dumps) are not SQL; the dump's settings
        # (an empty search_path among them) are undone for the pooled connection.
        lines = [line for line in done.stdout.splitlines() if not line.startswith("\\")]
        return "\n".join([*lines, "RESET ALL;"])


def referrers_first(referrers: dict[str, set[str]]) -> list[str]:
    """Order tables so each comes after every table that refers to it."""
    ordered: list[str] = []
    placed: set[str] = set()

    def place(table: str, seen: frozenset[str]) -> None:
        if table in placed or table in seen:
            return
        for child in sorted(referrers[table]):
            place(child, seen | {table})
        placed.add(table)
        ordered.append(table)

    for table in sorted(referrers):
        place(table, frozenset())
    return ordered
