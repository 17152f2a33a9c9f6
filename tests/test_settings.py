"""Settings: each is documented in the README with its default; config file < environment < flags."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from assistantd.settings import ModelRoute, Settings, load_settings

README = Path(__file__).resolve().parent.parent / "README.md"
# Variables the README may name that are not server settings.
NOT_SETTINGS = {
    "ASSISTANTD_CONFIG",
    "ASSISTANTD_FRAMEWORKS_CACHE",  # where scripts/frameworks keeps the client-framework venvs
    "ASSISTANTD_TEST_POSTGRES",
    "ASSISTANTD_TEST_SKIP_POSTGRES",
    "ASSISTANTD_TEST_SKIP_FRAMEWORKS",
    "ASSISTANTD_TEST_START_SECONDS",
}


def _readme_rows() -> dict[str, str]:
    """``ASSISTANTD_X`` → its README table row."""
    rows = {}
    for line in README.read_text().splitlines():
        match = re.match(r"\|\s*`(ASSISTANTD_[A-Z0-9_]+)`\s*\|", line)
        if match:
            rows[match.group(1)] = line
    return rows


def _shown(default: object) -> str:
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    if isinstance(default, Path):
        return str(default) if default.is_absolute() else f"./{default}"
    return str(default)


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented_with_its_default(name: str) -> None:
    variable = f"ASSISTANTD_{name.upper()}"
    rows = _readme_rows()
    assert variable in rows, f"README.md has no table row for {variable}"
    default = Settings.model_fields[name].get_default(call_default_factory=True)
    if default is not None:
        assert _shown(default) in rows[variable], f"README row of {variable} does not show its default {default!r}"
    else:
        cells = [cell.strip() for cell in rows[variable].strip("|").split("|")]
        assert len(cells) >= 3 and cells[1], f"README row of {variable} says nothing of its default"


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    named = set(re.findall(r"ASSISTANTD_[A-Z0-9_]+", README.read_text()))
    real = {f"ASSISTANTD_{name.upper()}" for name in Settings.model_fields}
    assert named - real - NOT_SETTINGS == set()


def _models_section() -> str:
    return README.read_text().split("\n## Models and upstreams\n", 1)[1].split("\n## ", 1)[0]


def test_the_models_table_is_documented() -> None:
    """Every key of a ``[models]`` route has a README row (and no row names another), every refusable
    parameter is listed, and every config block of the section is a valid config."""
    section = _models_section()
    table = section.split("| key | default | meaning |", 1)[1].split("\n\n", 1)[0]
    rows = {match.group(1): match.group(0) for match in re.finditer(r"^\|\s*`([a-z_]+)`\s*\|.*$", table, re.M)}
    assert set(rows) == set(ModelRoute.model_fields)
    for key, field in ModelRoute.model_fields.items():
        assert field.description, key
    refusable = ModelRoute.model_fields["refuses"].annotation.__args__[0].__args__  # type: ignore[union-attr]
    assert all(f"`{name}`" in rows["refuses"] for name in refusable)
    blocks = re.findall(r"```toml\n(.*?)```", section, re.S)
    assert len(blocks) >= 8  # the example, and one per upstream
    for block in blocks:
        values = tomllib.loads(block)
        assert values.get("models"), block
        Settings(**values)  # a typo in a documented key fails here (routes forbid unknown keys)


def test_every_setting_has_help_text() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 10, name


def test_the_upstream_embedders_default_weight_is_the_fusion_default() -> None:
    # Two places state it (settings stays free of the retrieval package's imports): they must agree.
    from assistantd.retrieval.index.fusion import VECTOR_WEIGHT

    assert Settings.model_fields["embedding_vector_weight"].default == VECTOR_WEIGHT


def _clear_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"ASSISTANTD_{name.upper()}", raising=False)
    monkeypatch.delenv("ASSISTANTD_CONFIG", raising=False)


def test_precedence_file_under_environment_under_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_env(monkeypatch)
    config = tmp_path / "assistantd.toml"
    config.write_text('port = 7001\nhost = "0.0.0.0"\nlog_level = "debug"\nmax_upload_bytes = 10\n')
    assert load_settings(config).port == 7001
    monkeypatch.setenv("ASSISTANTD_PORT", "7002")
    monkeypatch.setenv("ASSISTANTD_LOG_LEVEL", "warning")
    settings = load_settings(config)
    assert (settings.port, settings.host, settings.log_level, settings.max_upload_bytes) == (
        7002,
        "0.0.0.0",
        "warning",
        10,
    )
    flagged = load_settings(config, port=7003, host=None)  # a flag not given does not count
    assert (flagged.port, flagged.host) == (7003, "0.0.0.0")
    monkeypatch.setenv("ASSISTANTD_CONFIG", str(config))
    assert load_settings().host == "0.0.0.0"  # the file named by the environment


def test_defaults_without_file_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_env(monkeypatch)
    settings = load_settings()
    assert settings.model_dump() == Settings.model_construct().model_dump()


def test_unknown_keys_in_the_config_file_are_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in the file must not be silently ignored."""
    _clear_env(monkeypatch)
    config = tmp_path / "bad.toml"
    config.write_text("prot = 9000\n")
    with pytest.raises(ValueError, match="unknown setting 'prot'"):
        load_settings(config)
    done = subprocess.run(
        [sys.executable, "-m", "assistantd", "--config", str(config), "migrate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "unknown setting 'prot'" in done.stderr and "Traceback" not in done.stderr


def _migrate(tmp_path: Path, args: list[str], env_data_dir: Path | None) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANTD_")}
    if env_data_dir:
        env["ASSISTANTD_DATA_DIR"] = str(env_data_dir)
    return subprocess.run(
        [sys.executable, "-m", "assistantd", *args, "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_precedence_through_the_command_line(tmp_path: Path) -> None:
    """``assistantd --config F migrate`` creates the database where the winning setting says."""
    from_file, from_env, from_flag = tmp_path / "file", tmp_path / "env", tmp_path / "flag"
    config = tmp_path / "c.toml"
    config.write_text(f'data_dir = "{from_file}"\n')
    for args, env_dir, winner in (
        (["--config", str(config)], None, from_file),
        (["--config", str(config)], from_env, from_env),
        (["--config", str(config), "--data-dir", str(from_flag)], from_env, from_flag),
    ):
        done = _migrate(tmp_path, args, env_dir)
        assert done.returncode == 0, done.stderr
        assert (winner / "assistantd.db").exists(), (args, env_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "env", "file", "flag"]
