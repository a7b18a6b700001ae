"""Files posted with a form: stored outside the data document, within the field's limits.

Each file is streamed to the file store with its size limit enforced while it is
read, so an oversized file is refused (413) without ever being kept. Its type is
taken from its first bytes where they tell (the `filetype` package), not from the
name or the browser's say-so. The data document holds only a reference
`{id, name, size, type}`; the form's own rules then check count and type.

A post refused for its other answers keeps its files: the page shown again carries each
as a signed token (`KEPT_FIELD`, signed with the app's secret, for `KEPT_MAX_AGE_S`), and
the post that follows takes them for each field it sends no new file for. A file never
sent again is an orphan that `flowdesk prune-files` deletes after a day.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO, cast

from flask import Response, abort, current_app, send_file
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.datastructures import FileStorage, MultiDict

from engine.service.file_kinds import safe_filename, sniff
from engine.service.requests import NewFile
from engine.store.files import FileStore, FileTooLarge
from engine.store.instances import Attachment
from forms.definition import (
    DEFAULT_MAX_FILES,
    DEFAULT_MAX_SIZE,
    Form,
    size_words,
)
from forms.errors import FieldError
from web.common.services import services

#: The form control that carries the files a refused post kept, one signed token each.
KEPT_FIELD = "kept_files"
#: How long a page shown again may send its kept files back.
KEPT_MAX_AGE_S = 24 * 3600
#: The most kept tokens one post is read for.
MAX_KEPT_TOKENS = 100


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="flowdesk.kept-upload")


class RejectedUpload(Exception):
    """A file the form cannot take; nothing of the post was kept."""

    def __init__(self, field: str, message: str, status: int) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


class Uploads:
    """The files of one request, kept until the command that records them commits."""

    def __init__(self, store: FileStore) -> None:
        self.store = store
        self.kept: list[NewFile] = []
        #: The files of `kept` that a refused post of the same page stored.
        self.again: list[NewFile] = []

    def take(
        self,
        form: Form,
        files: MultiDict[str, FileStorage],
        kept: Sequence[str] = (),
        submission: str = "",
    ) -> dict[str, Any]:
        """Store the files of every file field; return each field's references. `kept`:
        the tokens of the files a refused post of this page (`submission`) kept (see
        `tokens`), taken for a field no new file is sent for."""
        values: dict[str, Any] = {}
        earlier = self._kept(kept, submission) if submission else []
        for field in form.fields:
            if field["type"] != "file":
                continue
            posted = [f for f in files.getlist(field["key"]) if f.filename]
            if not posted:
                again = [new for new in earlier if new.field == field["key"]]
                if again:
                    self.kept += again
                    self.again += again
                    values[field["key"]] = [new.ref() for new in again]
                continue
            limit = int(field.get("max_files", DEFAULT_MAX_FILES))
            if len(posted) > limit:
                raise RejectedUpload(field["key"], f"Choose at most {_count(limit, 'file')}.", 422)
            max_size = int(field.get("max_size", DEFAULT_MAX_SIZE))
            values[field["key"]] = [
                self._keep(upload, field["key"], max_size).ref() for upload in posted
            ]
        return values

    def take_added(self, posted: Sequence[FileStorage], rules: Mapping[str, Any]) -> list[NewFile]:
        """Store files a requester adds on their tracking page, as many and as large as
        `rules` (`forms.definition.added_files_field`) say; the service checks the rest."""
        posted = [f for f in posted if f.filename]
        most = int(rules["max_files"])
        if len(posted) > most:
            raise RejectedUpload("files", f"Add at most {_count(most, 'file')} at once.", 422)
        for upload in posted:
            self._keep(upload, None, int(rules["max_size"]))
        return list(self.kept)

    def _keep(self, upload: FileStorage, field: str | None, max_size: int) -> NewFile:
        name = safe_filename(upload.filename or "file")
        try:
            stored = self.store.put(cast(BinaryIO, upload.stream), limit=max_size)
        except FileTooLarge:
            raise RejectedUpload(
                field or "files",
                f"'{name}' is larger than {size_words(max_size)}; choose a smaller file.",
                413,
            ) from None
        new = NewFile(field, name, sniff(stored.head, name), stored.size, stored.sha256, stored.key)
        self.kept.append(new)
        return new

    def tokens(self, submission: str) -> list[str]:
        """The signed tokens of this request's files, for the page (`submission`) shown
        again after a refusal: the files stay on disk for its next post to take, and for
        no other page's."""
        signer = _signer()
        return [
            str(signer.dumps({"submission": submission, "file": dataclasses.asdict(new)}))
            for new in self.kept
        ]

    def _kept(self, tokens: Sequence[str], submission: str) -> list[NewFile]:
        """The files a page shown again sends back: those whose token this app signed for
        this page, not too long ago, and still on disk; any other token is passed over."""
        signer, found = _signer(), []
        for token in tokens[:MAX_KEPT_TOKENS]:
            try:
                signed = signer.loads(token, max_age=KEPT_MAX_AGE_S)
                if signed["submission"] != submission:
                    continue
                new = NewFile(**signed["file"])
                if self.store.path(new.storage_key).is_file() and new not in found:
                    found.append(new)
            except (BadSignature, KeyError, TypeError, ValueError):
                continue
        return found

    def refused(
        self, form: Form, errors: Sequence[FieldError], values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A post refused for `errors`: delete the files of the file fields they name (a
        file of a type its field refuses is not kept for another try) and keep the others
        for the page shown again (`tokens`); return `values` without the files deleted."""
        named = {error.field.split(".")[0] for error in errors} & _file_fields(form)
        for new in [new for new in self.kept if new.field in named]:
            if new not in self.again:
                self.store.delete(new.storage_key)
            self.kept.remove(new)
        return {key: value for key, value in values.items() if key not in named}

    def discard(self) -> None:
        """Delete every file this request stored: the post was refused, or repeated one
        already recorded. Files a refused post of the same page kept are left: the
        request that records them (or `flowdesk prune-files`) owns them."""
        for new in self.kept:
            if new not in self.again:
                self.store.delete(new.storage_key)
        self.kept.clear()
        self.again.clear()


def without_files(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    """The answers of a post but its files: for a page shown again without them."""
    files = _file_fields(form)
    return {key: value for key, value in values.items() if key not in files}


def _file_fields(form: Form) -> set[str]:
    return {field["key"] for field in form.fields if field["type"] == "file"}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def send_attachment(found: Attachment) -> Response:
    """Send a kept file as a download, never inline: no uploaded page may run on this site."""
    store = services().files
    try:
        content = store.open(found.storage_key)
    except FileNotFoundError:
        # Recorded, but not on this disk: a database restored without its files folder.
        abort(410, f"{found.filename} is recorded, but its file is no longer kept here.")
    return send_file(
        content, mimetype=found.content_type, as_attachment=True, download_name=found.filename
    )
