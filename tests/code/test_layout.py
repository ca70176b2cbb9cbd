"""The import rules of the design: features → training → serving, and training and serving never meet."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "features": {"training", "serving", "signalscore"},
    "training": {"serving", "signalscore"},
    "serving": {"training", "signalscore"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_data_flow(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
        if _imports(path) & FORBIDDEN[package]
    }
    assert not offenders, f"{package} must not import {sorted(FORBIDDEN[package])}: {offenders}"


def test_features_page_is_generated_from_the_current_catalog():
    from features.docs import DOC_PATH, render

    assert DOC_PATH.read_text() == render(), "docs/features.md is stale: run `python -m features.docs`"


def test_every_catalog_entry_is_documented_and_speakable():
    from features.catalog import CATALOG, GROUPS

    for f in CATALOG:
        assert f.description and f.unit and f.template, f.name
        assert f.group in GROUPS[f.entity], f.name
        assert "{value" in f.template, f.name
