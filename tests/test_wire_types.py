"""The wire objects' TypedDicts bite: mypy (run here through ``mypy.api``) refuses a document with a
misspelt key, a wrong ``object`` or a missing field, and accepts the one spelt right."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parent.parent
FILE = """
from assistantd.protocol.files import File


def uploaded() -> File:
    return {{
        "id": "file-abc",
        "object": {object},
        "bytes": 3,
        "created_at": 0,
        "filename": "notes.txt",
        "purpose": "assistants",
        "status": "processed",
        {extra}
    }}
"""
DELETED = """
from assistantd.protocol.deleted import deleted
from assistantd.protocol.vector_stores import VectorStoreDeleted


def removed() -> VectorStoreDeleted:
    return deleted("vs_abc", {kind})
"""
SNIPPETS = {
    "spelt_right": FILE.format(object='"file"', extra='"expires_at": 60,'),
    "misspelt_key": FILE.format(object='"file"', extra='"expire_at": 60,'),
    "wrong_object": FILE.format(object='"files"', extra=""),
    "missing_field": FILE.format(object='"file"', extra="").replace('"bytes": 3,', ""),
    "deleted_right": DELETED.format(kind='"vector_store.deleted"'),
    "deleted_misspelt": DELETED.format(kind='"vector_stores.deleted"'),
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """mypy's errors for each snippet, checked in one run (the project's own mypy settings)."""
    folder = tmp_path_factory.mktemp("snippets")
    for name, source in SNIPPETS.items():
        (folder / f"{name}.py").write_text(source)
    files = [str(folder / f"{name}.py") for name in SNIPPETS]
    options = ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(folder / ".cache")]
    out, err, _status = api.run([*options, "--show-error-codes", "--no-error-summary", *files])
    assert not err, err
    found = dict.fromkeys(SNIPPETS, "")
    for line in out.splitlines():
        for name in SNIPPETS:
            if line.startswith(str(folder / f"{name}.py")):
                found[name] += line + "\n"
    return found


def test_a_document_spelt_right_passes(reports: dict[str, str]) -> None:
    assert reports["spelt_right"] == ""
    assert reports["deleted_right"] == ""


def test_a_misspelt_key_is_an_error(reports: dict[str, str]) -> None:
    assert 'Extra key "expire_at" for TypedDict "File"' in reports["misspelt_key"]


def test_a_wrong_object_is_an_error(reports: dict[str, str]) -> None:
    assert (
        'has type "Literal[\'files\']", TypedDict item "object" has type "Literal[\'file\']"' in reports["wrong_object"]
    )


def test_a_missing_field_is_an_error(reports: dict[str, str]) -> None:
    assert 'Missing key "bytes" for TypedDict "File"' in reports["missing_field"]


def test_a_misspelt_kind_of_delete_is_an_error(reports: dict[str, str]) -> None:
    expected = 'Argument 2 to "deleted" has incompatible type "Literal[\'vector_stores.deleted\']"'
    assert expected in reports["deleted_misspelt"]
