"""Every link in the docs leads somewhere: files that exist, headings that exist.

A reader who follows "see §21" from the language reference, or an ADR from the
changelog, lands where the link says. Anchors are made as GitHub makes them from a
heading: lower case, punctuation dropped, spaces turned into hyphens.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP = ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")
DOCS = sorted([*(ROOT / name for name in TOP), *(ROOT / "docs").rglob("*.md")])
#: `[words](target)`, leaving out images and code spans' look-alikes.
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
#: What is shown as code or hidden, not followed: code blocks, code spans, HTML comments.
NOT_LINKS = re.compile(r"^```.*?^```|`[^`\n]*`|<!--.*?-->", re.MULTILINE | re.DOTALL)


def slug(heading: str) -> str:
    text = re.sub(r"<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    found: set[str] = set()
    for line in text.splitlines():
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            name, n = base, 1
            while name in found:  # GitHub numbers repeated headings: -1, -2, ...
                name, n = f"{base}-{n}", n + 1
            found.add(name)
    return frozenset(found)


def links(path: Path) -> list[str]:
    return LINK.findall(NOT_LINKS.sub("", path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_every_link_of_a_document_leads_to_a_file_and_a_heading_that_exist(doc: Path) -> None:
    broken = []
    for target in links(doc):
        if re.match(r"[a-z]+:", target):  # https:, mailto:: outside the repository
            continue
        file, _, anchor = target.partition("#")
        where = (doc.parent / file).resolve() if file else doc
        if not where.exists():
            broken.append(f"{target}: no file {where.relative_to(ROOT)}")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            broken.append(f"{target}: no heading '#{anchor}' in {where.relative_to(ROOT)}")
    assert broken == []
