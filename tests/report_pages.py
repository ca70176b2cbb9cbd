"""Reading the report's pages back: the data-* attributes every page carries for tests and scripts."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path


class DataAttributes(HTMLParser):
    """Every element's data-* attributes (with its tag and id), in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        found = {k: v for k, v in attrs if k.startswith("data-") or k == "id"}
        if found:
            self.elements.append({"tag": tag, **found})


def parse(path: Path) -> list[dict]:
    parser = DataAttributes()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.elements


def island_rows(path: Path, element_id: str) -> list[dict]:
    """Every row of a big table, from the page's JSON island: the data-* attributes of each row's <tr>."""
    text = path.read_text(encoding="utf-8")
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', text, re.S)
    assert found, f"no JSON island {element_id} in {path}"
    rows = []
    for entry in json.loads(found.group(1)):
        parser = DataAttributes()
        parser.feed(entry["h"])
        rows.append(parser.elements[0])
    return rows
