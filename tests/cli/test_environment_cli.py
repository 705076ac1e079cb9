"""The environment, checked at start: master keys, data directories, database files."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.cli.conftest import Cli

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")


@pytest.fixture(autouse=True)
def no_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELOPS_DATABASE_URL", raising=False)
    monkeypatch.delenv("MODELOPS_MASTER_KEY", raising=False)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (KEY[:20] + "!!" + KEY[20:], "key v1 is not urlsafe base64 (only A-Z, a-z, 0-9, '-', '_'"),
        (KEY[:-1] + "9", "key v1 is not canonical urlsafe base64"),
        ("v2:" + KEY + "," + "v1:" + KEY.replace("A", "+", 1), "key v1 is not urlsafe base64"),
        (KEY + "AAAA", "key v1 decodes to 35 bytes"),
        # Junk before a labelled key lands in the label, which must be a plain word.
        ("!!v1:" + KEY, "entry 1 has a version label that is not letters, digits"),
    ],
)  # fmt: skip
def test_a_master_key_that_is_not_strict_urlsafe_base64_of_32_bytes_is_refused(
    cli: Cli, tmp_path: Path, value: str, message: str
) -> None:
    result = cli(
        "models", "list", env={"MODELOPS_MASTER_KEY": value, "MODELOPS_DATA_DIR": str(tmp_path)}
    )
    assert result.code == 2
    assert f"MODELOPS_MASTER_KEY: Value error, {message}" in result.err
    assert KEY not in result.err


def test_a_well_formed_master_key_passes_with_or_without_padding(cli: Cli, tmp_path: Path) -> None:
    for key in (KEY, KEY + "="):
        env = {"MODELOPS_MASTER_KEY": key, "MODELOPS_DATA_DIR": str(tmp_path / "none")}
        result = cli("models", "list", env=env)
        assert "MODELOPS_MASTER_KEY" not in result.err


def test_a_data_dir_that_cannot_exist_is_a_configuration_error(cli: Cli) -> None:
    read = cli("models", "list", env={"MODELOPS_DATA_DIR": "/proc/nope"})
    assert read.code == 2
    assert read.err.strip() == (
        "error: there is no database at /proc/nope/modelops.db: run `modelops db upgrade` to "
        "create it, or set MODELOPS_DATA_DIR to where it is"
    )
    upgrade = cli("db", "upgrade")
    assert upgrade.code == 2
    assert upgrade.err.startswith(
        "error: MODELOPS_DATA_DIR: cannot create the directory /proc/nope"
    )


def test_read_commands_never_create_a_database(cli: Cli, tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    for args in (("models", "list"), ("keys", "list"), ("approvals", "list"), ("db", "current")):
        result = cli(*args, env={"MODELOPS_DATA_DIR": str(typo)})
        assert result.code == 2, args
        assert f"there is no database at {typo / 'modelops.db'}" in result.err
    assert not typo.exists()
    assert cli("db", "upgrade").code == 0
    assert (typo / "modelops.db").is_file()
    assert cli("models", "list", "--json").out.strip() == "[]"


def test_a_missing_sqlite_file_in_the_database_url_is_not_created(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere.db"
    result = cli("models", "list", env={"MODELOPS_DATABASE_URL": f"sqlite:///{missing}"})
    assert result.code == 2
    assert "or set MODELOPS_DATABASE_URL to where it is" in result.err
    assert not missing.exists()
