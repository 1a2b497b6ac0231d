"""The layers of the code, as the import graph shows them (docs/architecture.md).

`lint-imports` (run by ./scripts/test) checks the contracts written in pyproject.toml; these
tests check the same graph once more from inside the suite, and also that no two modules
import each other, however indirectly: imports inside functions count as much as those at the
top of a module (grimp reads every import statement of a module).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "web", "hotline", "scheduling", "foundation", "config")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_two_modules_import_each_other(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle_hidden_in_a_function() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.mail", "pkg.sender"):
        graph.add_module(name)
    graph.add_import(importer="pkg.sender", imported="pkg.mail", line_number=60, line_contents="")
    graph.add_import(importer="pkg.mail", imported="pkg.sender", line_number=3, line_contents="")
    assert _cycles(graph) == [["pkg.mail", "pkg.sender"]]


def _contracts() -> list[dict[str, object]]:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts: list[dict[str, object]] = settings["contracts"]
    return contracts


def test_the_layers_are_written_down_once() -> None:
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    assert layers["layers"] == ["app", "web", "hotline | scheduling", "foundation", "config"]


def test_the_import_contracts_hold() -> None:
    """What ./scripts/test checks before pytest, checked from the suite as well."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_upward_import_breaks_the_layers() -> None:
    """The layers contract is not a decoration: a scheduling module that imports telephony
    inside a function (as `scheduling.scheduler` once did) breaks it."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    graph.remove_import(importer="hotline.__main__", imported="app.cli")  # the ignored one
    layers = (
        "app",
        "web",
        grimp.Layer("hotline", "scheduling", independent=True),
        "foundation",
        "config",
    )
    assert graph.find_illegal_dependencies_for_layers(layers=layers) == set()
    graph.add_import(
        importer="scheduling.reminders",
        imported="hotline.relay",
        line_number=1,
        line_contents="from hotline import relay",
    )
    illegal = graph.find_illegal_dependencies_for_layers(layers=layers)
    assert {(d.importer, d.imported) for d in illegal} == {("scheduling", "hotline")}
