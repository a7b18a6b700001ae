"""The public portal against abuse: script payloads, uploads past their limits, stray tokens."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from engine.service.commands import Commands
from engine.service.submissions import InvalidData
from engine.store.database import Database
from engine.store.files import FileStore
from engine.store.instances import Attachment, Instance
from tests.infrastructure import Clock
from tests.web.conftest import hidden_fields
from tests.web.test_inbox import make_team, signed_in
from tests.web.test_portal import REPORT, open_form, tracking_path
from web.cli import main

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'
#: The smallest PNG there is: a 1x1 transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def assert_escaped(html: str) -> None:
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert" in html


def stored(database: Database) -> tuple[int, int]:
    with database.reading() as session:
        instances = session.scalar(select(func.count()).select_from(Instance)) or 0
        files = session.scalar(select(func.count()).select_from(Attachment)) or 0
    return int(instances), int(files)


def files_on_disk(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def post_files(client: FlaskClient, files: list[tuple[bytes, str]], **values: Any) -> Any:
    data: dict[str, Any] = {**open_form(client), **REPORT, **values}
    data["screenshots"] = [FileStorage(io.BytesIO(content), name) for content, name in files]
    # Encoded in memory: werkzeug's test client would spool a large body to a temporary
    # file that nothing closes.
    body, length, boundary = stream_encode_multipart(data, use_tempfile=False)
    return client.post(
        "/new/it-incident",
        input_stream=body,
        content_length=length,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def test_script_payloads_in_every_text_field_come_back_escaped_on_the_form_page(
    client: FlaskClient,
) -> None:
    every = dict.fromkeys(("name", "email", "summary", "description"), PAYLOAD)
    page = client.post(
        "/new/it-incident",
        data={
            **open_form(client),
            **REPORT,
            **every,
            "impact": "high",
            "affected_service": PAYLOAD,
        },
    )
    assert page.status_code == 422
    assert_escaped(page.text)


def test_script_payloads_come_back_escaped_on_the_tracking_page(
    client: FlaskClient, database: Database
) -> None:
    text_fields = dict.fromkeys(("name", "summary", "description"), PAYLOAD)
    response = client.post(
        "/new/it-incident",
        data={**open_form(client), **REPORT, **text_fields, "impact": "high"},
    )
    path = tracking_path(response)
    page = client.get(response.headers["Location"])  # the confirmation
    assert_escaped(page.text)
    client.post(f"{path}/comments", data={**hidden_fields(page.text), "comment": PAYLOAD})
    client.post(
        f"{path}/files",
        data={**hidden_fields(client.get(path).text),
              "files": [(io.BytesIO(PNG), f"{PAYLOAD}.png")]},
        content_type="multipart/form-data",
    )  # fmt: skip
    page = client.get(path)
    assert page.text.count("&lt;script&gt;alert") >= 4  # title, data, comment, file name
    assert_escaped(page.text)


@pytest.mark.parametrize("settings", [{"MAX_CONTENT_LENGTH": 1024 * 1024}])
def test_a_request_over_the_size_limit_answers_413_and_stores_nothing(
    client: FlaskClient, database: Database, tmp_path: Path
) -> None:
    response = post_files(client, [(b"\0" * (1024 * 1024 + 1), "huge.png")])
    assert response.status_code == 413
    # The limit is said, as it is enforced: the whole post, and the one limit per file.
    assert "more than can be sent at once (1 MB in all); nothing was saved" in response.text
    assert "Send at most 5 files, each at most 10 MB." in response.text
    assert stored(database) == (0, 0)
    assert files_on_disk(Path.cwd() / "instance" / "files") == []


def test_a_post_of_too_many_parts_says_so_not_the_size_limit(
    client: FlaskClient, database: Database
) -> None:
    """1,001 tiny parts are far under 51 MB: the refusal names the limit that was passed."""
    extra = {f"x{n}": "1" for n in range(1001)}
    response = post_files(client, [(PNG, "one.png")], **extra)
    assert response.status_code == 413
    assert "at most 1,000 fields and files" in response.text
    assert "in all" not in response.text  # not told it sent more than 51 MB
    assert stored(database) == (0, 0)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("-5", "FLOWDESK_MAX_CONTENT_LENGTH='-5' must be greater than 0"),
        ("0", "FLOWDESK_MAX_CONTENT_LENGTH='0' must be greater than 0"),
        ("lots", "FLOWDESK_MAX_CONTENT_LENGTH='lots' is not a whole number"),
    ],
)
def test_a_size_limit_that_is_no_size_is_refused_as_the_app_starts_and_by_up(
    given: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FLOWDESK_MAX_CONTENT_LENGTH=-5 or 0 was taken, and every form was refused as too
    large (413); a word failed every post (500). Now the app does not start, saying which
    variable and why, and `flowdesk up` says it before it starts anything."""
    from engine.settings import SettingsError
    from web.app import create_app

    monkeypatch.setenv("FLOWDESK_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FLOWDESK_MAX_CONTENT_LENGTH", given)
    monkeypatch.delenv("FLOWDESK_DATABASE_URL", raising=False)
    with pytest.raises(SettingsError) as refused:
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    assert str(refused.value) == f"{said} (the largest request, in bytes)"
    result = CliRunner().invoke(main, ["up", "--port", "9"])
    assert result.exit_code == 1, result.output
    assert said in result.output
    assert "nothing was started" in result.output
    assert not (tmp_path / "flowdesk.sqlite3").exists()


@pytest.mark.parametrize("given", ["no", "off", "yes", "2"])
def test_an_https_setting_that_is_no_yes_or_no_is_refused_as_the_app_starts_and_by_up(
    given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flask reads FLOWDESK_HTTPS=no as the text "no", which counts as yes: HTTPS on, cookies
    Secure, and nobody could sign in over http. Only true, false, 1 and 0 are taken."""
    from engine.settings import SettingsError
    from web.app import create_app

    monkeypatch.setenv("FLOWDESK_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FLOWDESK_HTTPS", given)
    monkeypatch.delenv("FLOWDESK_DATABASE_URL", raising=False)
    said = f"FLOWDESK_HTTPS='{given}' is not true or false (whether people reach it over HTTPS)"
    with pytest.raises(SettingsError, match=re.escape(said)):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    result = CliRunner().invoke(main, ["up", "--port", "9"])
    assert result.exit_code == 1, result.output
    assert said in result.output
    for meant in ("false", "0"):
        monkeypatch.setenv("FLOWDESK_HTTPS", meant)
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
        assert not app.config["HTTPS"]
        app.extensions["flowdesk"].close()


def test_a_file_over_the_fields_limit_answers_413_and_stores_nothing(
    client: FlaskClient, database: Database, settings: dict[str, Any]
) -> None:
    big = PNG + b"\0" * (5 * 1024 * 1024)
    response = post_files(client, [(PNG, "fine.png"), (big, "big.png")])
    assert response.status_code == 413
    assert "&#39;big.png&#39; is larger than 5 MB" in response.text
    assert stored(database) == (0, 0)
    assert files_on_disk(Path(settings["UPLOAD_FOLDER"])) == []


def test_files_of_a_type_the_field_refuses_store_nothing(
    client: FlaskClient, database: Database, settings: dict[str, Any]
) -> None:
    program = b"MZ\x90\x00" + b"\0" * 600  # a Windows program, whatever its name says
    response = post_files(client, [(program, "photo.png")])
    assert response.status_code == 422
    assert "screenshots" in response.text
    assert "There is a problem" in response.text
    assert stored(database) == (0, 0)
    assert files_on_disk(Path(settings["UPLOAD_FOLDER"])) == []


def test_too_many_files_store_nothing(
    client: FlaskClient, database: Database, settings: dict[str, Any]
) -> None:
    response = post_files(client, [(PNG, f"{n}.png") for n in range(4)])
    assert response.status_code == 422
    assert "Choose at most 3 files" in response.text
    assert stored(database) == (0, 0)
    assert files_on_disk(Path(settings["UPLOAD_FOLDER"])) == []


def test_uploads_live_outside_the_data_and_only_the_link_holder_gets_them(
    client: FlaskClient, database: Database, settings: dict[str, Any]
) -> None:
    response = post_files(client, [(PNG, "jam.png")])
    path = tracking_path(response)
    with database.reading() as session:
        instance = session.scalars(select(Instance)).one()
        attachment = session.scalars(select(Attachment)).one()
    refs = instance.state["data"]["screenshots"]
    assert refs == [{"id": attachment.storage_key, "name": "jam.png", "size": len(PNG),
                     "type": "image/png"}]  # fmt: skip
    assert "iVBOR" not in str(instance.state)  # no base64 of the bytes in the document
    page = client.get(path).text
    link = re.search(r'href="(/track/[^"]+/files/[0-9a-f]{32})"', page)
    assert link is not None
    assert "jam.png</a> (66 bytes)" in page  # in words: it said "0.1 KB"
    with client.get(link.group(1)) as download:
        assert download.status_code == 200
        assert download.data == PNG
        assert download.headers["Content-Disposition"].startswith("attachment")
    stranger = link.group(1).replace(urlsplit(path).path.split("/")[2], "f" * 48)
    assert client.get(stranger).status_code == 404
    # A database restored without its files folder: recorded, not kept (it was a 500).
    client.application.extensions["flowdesk"].files.path(attachment.storage_key).unlink()
    gone = client.get(link.group(1))
    assert gone.status_code == 410
    assert "jam.png is recorded, but its file is no longer kept here." in gone.text


def test_a_file_reference_sent_without_its_file_is_refused_and_stores_nothing(
    client: FlaskClient, database: Database, commands: Commands
) -> None:
    tracking_path(post_files(client, [(PNG, "jam.png")]))  # someone else's upload
    with database.reading() as session:
        theirs = session.scalars(select(Attachment)).one()
    forged = [{"id": theirs.storage_key, "name": "x.png", "size": 1, "type": "image/png"}]
    before = stored(database)
    for refs in (forged, [{"id": "0" * 32, "name": "y.png", "size": 1, "type": "image/png"}]):
        with pytest.raises(InvalidData) as refused:
            commands.start("it-incident", {**REPORT, "screenshots": refs}, requester="ada")
        assert [e.field for e in refused.value.fields] == ["screenshots"]
    assert stored(database) == before


def test_prune_files_deletes_only_old_uploads_that_no_attachment_records(
    client: FlaskClient,
    database: Database,
    database_url: str,
    settings: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tracking_path(post_files(client, [(PNG, "jam.png")]))
    folder = Path(settings["UPLOAD_FOLDER"])
    (recorded,) = files_on_disk(folder)
    # What a process killed mid-request leaves: a file never recorded, a half-written one.
    store = FileStore(folder)
    orphan = store.path(store.put(io.BytesIO(PNG), limit=1024).key)
    partial = orphan.with_name("0" * 32 + ".part")
    partial.write_bytes(PNG[:10])
    young = store.path(store.put(io.BytesIO(PNG), limit=1024).key)
    two_days_ago = time.time() - 2 * 24 * 3600
    for old in (recorded, orphan, partial):
        os.utime(old, (two_days_ago, two_days_ago))

    monkeypatch.setenv("FLOWDESK_INSTANCE_PATH", str(folder.parent / "instance"))
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    monkeypatch.setenv("FLOWDESK_UPLOAD_FOLDER", str(folder))
    runner = CliRunner()
    listed = runner.invoke(main, ["prune-files", "--dry-run"])
    assert listed.exit_code == 0, listed.output
    assert sorted(listed.stdout.split()) == sorted([str(orphan), str(partial)])
    assert "2 orphaned file(s) found" in listed.stderr
    assert sorted(files_on_disk(folder)) == sorted([recorded, orphan, partial, young])

    pruned = runner.invoke(main, ["prune-files"])
    assert pruned.exit_code == 0, pruned.output
    assert "2 orphaned file(s) deleted" in pruned.stderr
    assert sorted(files_on_disk(folder)) == sorted([recorded, young])
    link = re.search(r'href="(/track/[^"]+/files/[0-9a-f]{32})"', client.get(path).text)
    assert link is not None
    with client.get(link.group(1)) as download:
        assert download.data == PNG

    too_soon = runner.invoke(main, ["prune-files", "--older-than", "0.5"])
    assert too_soon.exit_code == 2  # an upload in progress might be younger than that
    assert "0.5 is not in the range x>=1" in too_soon.output


def add_on_tracking_page(client: FlaskClient, path: str, files: list[tuple[bytes, str]]) -> Any:
    data: dict[str, Any] = {
        **hidden_fields(client.get(path).text),
        "files": [FileStorage(io.BytesIO(content), name) for content, name in files],
    }
    body, length, boundary = stream_encode_multipart(data, use_tempfile=False)
    return client.post(
        f"{path}/files",
        input_stream=body,
        content_length=length,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def test_files_added_later_take_the_limits_of_the_reports_own_files(
    client: FlaskClient, database: Database, settings: dict[str, Any]
) -> None:
    """The report's form takes up to 3 pictures, PDFs or texts of 5 MB: so does its tracking
    page, which says so; anything else is refused there with nothing kept."""
    path = tracking_path(post_files(client, []))
    page = client.get(path).text
    assert "Up to 3 files at once, each at most 5 MB. Allowed types: images, PDF, text." in page
    assert 'accept="image/*,application/pdf,text/plain"' in page
    folder = Path(settings["UPLOAD_FOLDER"])

    refused = {
        "too many": ([(PNG, f"{n}.png") for n in range(4)], 422, "Add at most 3 files at once."),
        "too large": ([(PNG + b"\0" * (5 * 1024 * 1024), "big.png")], 413,
                      "&#39;big.png&#39; is larger than 5 MB"),
        "a zip": ([(b"PK\x03\x04" + b"\0" * 100, "logs.zip")], 422,
                  "&#39;logs.zip&#39; is not a file this request takes: images, PDF, text."),
    }  # fmt: skip
    for what, (files, status, message) in refused.items():
        response = add_on_tracking_page(client, path, files)
        assert response.status_code == status, what
        assert message in response.text, what
        assert stored(database) == (1, 0), what
        assert files_on_disk(folder) == [], what

    taken = add_on_tracking_page(client, path, [(PNG, "a.png"), (b"%PDF-1.4\n%%EOF", "b.pdf")])
    assert taken.status_code == 303
    assert stored(database) == (1, 2)


@pytest.mark.parametrize(
    "settings",
    [{"REDIS_URL": "redis://127.0.0.1:9/0", "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9/0"}],
)
def test_a_report_is_taken_while_redis_is_away_and_its_rate_limit_counts_in_memory(
    client: FlaskClient, database: Database, settings: dict[str, Any]
) -> None:
    """The rate limit lives in Redis: with Redis away every report got a 500 and was not
    kept. Now each process counts in memory meanwhile, and the report is taken."""
    response = client.post("/new/it-incident", data={**open_form(client), **REPORT})
    assert response.status_code == 303, response.text
    assert stored(database) == (1, 0)


KEPT = re.compile(r'name="kept_files" value="([^"]+)"')


def test_a_file_sent_with_a_refused_report_is_kept_for_the_page_shown_again(
    client: FlaskClient, database: Database, settings: dict[str, Any]
) -> None:
    """The page said "Already attached: jam.png" after a refusal, but the file was deleted:
    the corrected report was made without it. Now the page carries it back, and only that
    page may (a token is bound to its page and signed)."""
    refused = post_files(client, [(PNG, "jam.png")], summary="")
    assert refused.status_code == 422
    assert "Already attached: jam.png" in refused.text
    [token] = KEPT.findall(refused.text)
    assert stored(database) == (0, 0)
    assert len(files_on_disk(Path(settings["UPLOAD_FOLDER"]))) == 1

    page = hidden_fields(refused.text)
    sent = client.post("/new/it-incident", data={**page, **REPORT, "kept_files": [token]})

    path = tracking_path(sent)
    with database.reading() as session:
        attachment = session.scalars(select(Attachment)).one()
    assert attachment.filename == "jam.png"
    with client.get(f"{path}/files/{attachment.storage_key}") as download:
        assert download.data == PNG
    # The same page sent again (a second click) repeats the report and keeps its file.
    again = client.post("/new/it-incident", data={**page, **REPORT, "kept_files": [token]})
    assert tracking_path(again) == path
    assert len(files_on_disk(Path(settings["UPLOAD_FOLDER"]))) == 1
    assert stored(database) == (1, 1)
    # Another page may not take the file, nor a token this app did not sign.
    other = open_form(client)
    for stolen in (token, token[:-4] + "AAAA"):
        made = client.post("/new/it-incident", data={**other, **REPORT, "kept_files": [stolen]})
        tracking_path(made)
        other = open_form(client)
    assert stored(database) == (3, 1)


def test_a_file_its_field_refuses_is_not_kept_for_another_try(
    client: FlaskClient, database: Database, settings: dict[str, Any]
) -> None:
    program = b"MZ\x90\x00" + b"\0" * 600
    refused = post_files(client, [(program, "photo.png")], summary="")
    assert refused.status_code == 422
    assert KEPT.findall(refused.text) == []
    assert "Already attached" not in refused.text
    assert files_on_disk(Path(settings["UPLOAD_FOLDER"])) == []


def test_a_file_sent_with_a_refused_new_request_is_kept_for_the_page_shown_again(
    app: Flask, database: Database, commands: Commands, clock: Clock
) -> None:
    """The same at the signed-in New request page (and Log a call, which shares it)."""
    make_team(app, database, commands, clock)
    bob = signed_in(app, "bob")
    page = hidden_fields(bob.get("/requests/new/it-incident").text)
    data: dict[str, Any] = {**page, **REPORT, "summary": ""}
    data["screenshots"] = [FileStorage(io.BytesIO(PNG), "jam.png")]
    refused = bob.post("/requests/new/it-incident", data=data, content_type="multipart/form-data")
    assert refused.status_code == 422
    assert "Already attached: jam.png" in refused.text
    kept = KEPT.findall(refused.text)

    again = {**hidden_fields(refused.text), **REPORT, "kept_files": kept}
    made = bob.post("/requests/new/it-incident", data=again)

    assert made.status_code == 303, made.text
    with database.reading() as session:
        assert session.scalars(select(Attachment.filename)).all() == ["jam.png"]


def test_a_number_of_5000_digits_is_refused_on_its_field_at_the_doors_anyone_reaches(
    client: FlaskClient, database: Database
) -> None:
    """Python's int() refuses more than 4,300 digits: such a post was a 500."""
    nines = "9" * 5000
    refused = client.post("/new/it-incident", data={**open_form(client), **REPORT, "impact": nines})
    assert refused.status_code == 422
    assert "Choose one of the options" in refused.text
    checked = client.post(
        "/api/v1/forms/incident-report/validate", data={**REPORT, "impact": nines}
    )
    assert checked.status_code < 500, checked.text
    assert "impact" in checked.text
    assert stored(database) == (0, 0)
