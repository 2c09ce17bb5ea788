"""Read every file of a folder as the text a reader of it could see, and look for secret lines in it.

An HTML page is read without its tags and with its entities decoded, so that
code highlighted token by token reads as its line; a notebook as its cells'
sources and outputs; a wheel or a zip as each of its members. Everything else
is read as UTF-8, whatever does not decode dropped: a secret line is text.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from .secrets import Secret, find

_TAG = re.compile(r"<[^>]*>")


def readable(name: str, data: bytes) -> Iterator[tuple[str, str]]:
    """(name, text) for a file, and for each member of it when it is an archive."""
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield from readable(f"{name}!{member}", archive.read(member))
        return
    text = data.decode("utf-8", errors="ignore")
    yield name, text
    if name.endswith((".html", ".htm")):
        yield name, html.unescape(_TAG.sub("", text))
    elif name.endswith((".ipynb", ".json")):
        try:
            yield name, "\n".join(_strings(json.loads(text)))
        except ValueError:
            pass


def _strings(value) -> Iterator[str]:
    """Every string inside a JSON value: a notebook's sources and outputs, line by line."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        if value and all(isinstance(item, str) for item in value):
            yield "".join(value)  # a multi-line source or output, kept as its lines
        else:
            for item in value:
                yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def files(folder: Path) -> Iterator[tuple[str, str]]:
    """(path relative to ``folder``, text) for every readable text of every file under it."""
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        yield from readable(path.relative_to(folder).as_posix(), path.read_bytes())


def scan(folder: Path, secrets: list[Secret]) -> tuple[int, list[tuple[str, Secret]]]:
    """The number of texts read under ``folder``, and each (file, secret) found in one of them."""
    found, count = [], 0
    for name, text in files(folder):
        count += 1
        found.extend((name, secret) for secret in find(secrets, text))
    return count, list(dict.fromkeys(found))
