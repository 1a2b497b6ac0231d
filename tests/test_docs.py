"""The documentation documents every setting and command there is, every link in it leads
somewhere, and the quick start is the one the scripts implement.

README.md is what a newcomer reads first; the reference lives in docs/: every environment
variable and configuration key in docs/configuration.md, every command and option in
docs/cli.md.
"""

from __future__ import annotations

import argparse
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from config.model import HotlineConfig, ServiceHours
from config.settings import ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (DOCS / "configuration.md").read_text(encoding="utf-8")
CLI = (DOCS / "cli.md").read_text(encoding="utf-8")

# The reference pages the README must link to (issue 13: the reference moved out of it).
REFERENCE = ("configuration", "cli", "webhooks", "api", "operations", "security", "architecture")
# Every Markdown file whose links must resolve.
PAGES = sorted([ROOT / "README.md", ROOT / "bench" / "README.md", *DOCS.glob("*.md")])
# Paths the documentation names that are not in the repository (yet): the browser tests write
# their screenshots to tests/artifacts/; the access policy is being written beside this branch
# (issue 13) and docs/architecture.md already names its home.
NOT_IN_THE_TREE = {"tests/artifacts/"}


def prose(markdown: str) -> str:
    """The text outside fenced code blocks (a `# comment` in a shell block is no heading)."""
    kept, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(line)
    return "\n".join(kept)


def first_cells(markdown: str) -> set[str]:
    """The names in backticks in the first cell of every table row."""
    names: set[str] = set()
    for line in markdown.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def part(markdown: str, heading: str) -> str:
    """The text under a `## heading`, up to the next heading of that level."""
    return markdown.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


# --- settings ---------------------------------------------------------------------------------


def test_every_environment_variable_is_documented() -> None:
    documented = first_cells(part(CONFIGURATION, "Environment"))
    assert set(ENVIRONMENT) <= documented, set(ENVIRONMENT) - documented


def section_model(annotation: object) -> type[BaseModel]:
    """The model of a configuration section: `Notices`, or `Team` of `dict[Slug, Team]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    value = typing.get_args(annotation)[-1]
    assert isinstance(value, type), annotation
    assert issubclass(value, BaseModel), annotation
    return value


def wanted_keys(model: type[BaseModel]) -> set[str]:
    """The keys of a section as the page writes them: nested tables as `holidays.country`;
    the seven days of `hours` as one row, `hours.mon` … `hours.sun`."""
    wanted: set[str] = set()
    for name, field in model.model_fields.items():
        nested = field.annotation
        if nested is ServiceHours:
            wanted |= {f"{name}.mon", f"{name}.sun"}
        elif isinstance(nested, type) and issubclass(nested, BaseModel):
            wanted |= {f"{name}.{key}" for key in nested.model_fields}
        else:
            wanted.add(name)
    return wanted


def documented_sections() -> dict[str, str]:
    """Each `### …` part of "Configuration file", by the section it opens with (`[lines.<slug>]`
    → "lines")."""
    sections: dict[str, str] = {}
    for chunk in part(CONFIGURATION, "Configuration file").split("\n### ")[1:]:
        found = re.search(r"`\[([a-z_]+)[.\]]", chunk)
        assert found, f"a part of the configuration file names no section: {chunk[:60]!r}"
        sections[found.group(1)] = chunk
    return sections


def test_service_hours_are_the_seven_days() -> None:
    assert set(ServiceHours.model_fields) == {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}


@pytest.mark.parametrize("section", sorted(HotlineConfig.model_fields))
def test_every_configuration_key_is_documented(section: str) -> None:
    sections = documented_sections()
    assert section in sections, f"[{section}] has no part in docs/configuration.md"
    model = section_model(HotlineConfig.model_fields[section].annotation)
    missing = wanted_keys(model) - first_cells(sections[section])
    assert not missing, f"[{section}]: {sorted(missing)} not in docs/configuration.md"


def test_an_undocumented_key_is_noticed() -> None:
    """The check above reads table rows of the right section, not any mention anywhere."""

    class Extra(BaseModel):
        retention_days: int = 1
        brand_new_key: int = 0

    relay = documented_sections()["relay"]
    assert wanted_keys(Extra) - first_cells(relay) == {"brand_new_key"}
    assert "grace_minutes" not in first_cells(relay)  # documented, but for other sections


# --- commands ---------------------------------------------------------------------------------


def commands(
    parser: argparse.ArgumentParser, prefix: str = "hotline"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command and subcommand (`hotline db`, `hotline db upgrade`, …) with its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from commands(sub, f"{prefix} {name}")


def test_every_cli_command_and_option_is_documented() -> None:
    from app.cli import _parser

    rows = [line for line in CLI.splitlines() if line.startswith("| `hotline ")]
    for command, parser in commands(_parser()):
        row = next((r for r in rows if r.startswith(f"| `{command}")), None)
        assert row is not None, f"`{command}` is not in docs/cli.md"
        options = {
            option
            for action in parser._actions
            for option in action.option_strings
            if option.startswith("--") and option != "--help"
        }
        missing = sorted(option for option in options if option not in row)
        assert not missing, f"`{command}`: {missing} not in docs/cli.md"


# --- the quick start and CI -------------------------------------------------------------------


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


# --- links and paths --------------------------------------------------------------------------


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of a page (lower case, punctuation dropped,
    spaces to hyphens; a repeated heading gets -1, -2, …)."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in prose(page.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    return [
        target
        for target in re.findall(r"\]\(([^)\s]+)\)", text)
        if not re.match(r"[a-z]+:", target)  # https:, mailto: …: not ours to check
    ]


def resolve(page: Path, target: str) -> tuple[Path, str]:
    path, _, fragment = target.partition("#")
    return ((page.parent / path).resolve() if path else page), fragment


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    for target in links(page):
        path, fragment = resolve(page, target)
        assert path.exists(), f"{target}: no such file"
        if fragment:
            assert path.suffix == ".md", target
            assert fragment in anchors(path), f"{target}: no such heading"


def test_the_readme_links_every_reference_page() -> None:
    linked = {resolve(ROOT / "README.md", target)[0] for target in links(ROOT / "README.md")}
    for name in REFERENCE:
        assert DOCS / f"{name}.md" in linked, f"README.md does not link docs/{name}.md"


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    reached, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        if page in reached or page.suffix != ".md" or not page.exists():
            continue
        reached.add(page)
        todo += [resolve(page, target)[0] for target in links(page)]
    orphans = set(DOCS.glob("*.md")) - reached
    assert not orphans, sorted(str(p.relative_to(ROOT)) for p in orphans)


TOP = "app|web|hotline|scheduling|foundation|config|tests|bench|scripts|deploy"
PATH = re.compile(rf"`((?:{TOP})/[^`\s]*)`")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_named_exists(page: Path) -> None:
    """A module moved or renamed shows up here: the page still names its old path."""
    for path in PATH.findall(page.read_text(encoding="utf-8")):
        if "<" in path or "*" in path or path in NOT_IN_THE_TREE:
            continue  # a pattern (`web/<name>_pages.py`), not a path
        assert (ROOT / path).exists(), f"{path} named in {page.name} does not exist"
