"""The README documents every setting there is, and the quick start the scripts implement."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from config.model import HolidayConfig, Line, Organisation, ServiceHours, Team, Voice
from config.settings import ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def keys(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_every_environment_variable_is_documented() -> None:
    for name in ENVIRONMENT:
        assert f"`{name}`" in README, name


def test_every_configuration_key_is_documented() -> None:
    documented = set(re.findall(r"`([a-z_.]+)`", README))
    wanted = (
        keys(Organisation) - {"holidays"}
        | {f"holidays.{key}" for key in keys(HolidayConfig)}
        | keys(Team)
        | keys(Line) - {"hours"}
        | {f"hours.{day}" for day in ("mon", "sun")}
        | keys(Voice)
    )
    assert keys(ServiceHours) == {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
    assert wanted <= documented, wanted - documented


def test_quick_start_is_the_two_scripts() -> None:
    block = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert commands == ["./scripts/serve", "./scripts/test"]
    for script in commands:
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"


def test_ci_runs_the_same_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/test" in ci
    assert "HOTLINE_TEST_DATABASE_URL" in ci


def test_every_cli_command_is_documented() -> None:
    from app.cli import _parser

    parser = _parser()
    subparsers = parser._subparsers._group_actions[0]  # type: ignore[union-attr]
    for name in subparsers.choices:  # type: ignore[union-attr]
        assert f"`hotline {name}" in README, name
