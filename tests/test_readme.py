"""The documentation works as written: README.md and docs/*.md.

Every ```python block runs as pasted, in a fresh namespace, from an empty working directory (blocks
that are not meant to run use another fence language: bash, text, toml, json). The docs stand on
their own: no link into ../shared (a user never has it) and no broken link between the pages. The
README's test command is the one CI runs (.ci/run), and its results table quotes figures that
docs/benchmarks.md explains.
"""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
# CPU seconds (all threads), not wall time, so a busy machine does not fail it: the blocks take a few
# CPU seconds each; this only catches a block that trains for minutes.
CPU_SECONDS_PER_BLOCK = 40


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def fenced_blocks(path: Path) -> list[tuple[str, int, str]]:
    """(language, line number of the opening fence, code) of every fenced block of a page."""
    text = path.read_text(encoding="utf-8")
    return [(m.group(1), text.count("\n", 0, m.start()) + 1, m.group(2)) for m in FENCE.finditer(text)]


def python_blocks() -> list:
    return [
        pytest.param(path, line, code, id=f"{rel(path)}:{line}")
        for path in PAGES
        for language, line, code in fenced_blocks(path)
        if language == "python"
    ]


def prose(path: Path) -> str:
    """The page without its fenced blocks (links inside code are not links)."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def links(path: Path) -> list[str]:
    text = prose(path)
    return LINK.findall(text) + REFERENCE_LINK.findall(text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", prose(path), re.MULTILINE)}


def test_the_readme_has_python_examples():
    assert any(param.values[0] == README for param in python_blocks())


@pytest.mark.parametrize(("path", "line", "code"), python_blocks())
def test_python_block_runs_as_pasted(path, line, code, tmp_path, monkeypatch, plugins_on):
    monkeypatch.chdir(tmp_path)  # whatever a block writes lands here, never in the checkout
    started = time.process_time()
    exec(compile(code, f"{rel(path)}:{line}", "exec"), {"__name__": "__main__"})  # noqa: S102 (running the docs is the point)
    seconds = time.process_time() - started
    assert seconds < CPU_SECONDS_PER_BLOCK, f"{rel(path)}:{line} took {seconds:.1f} CPU s: documentation examples must be quick"


def test_every_code_block_names_its_language():
    """Only ```python blocks run; a block without a language (or with an alias such as py) would go untested."""
    for path in PAGES:
        for language, line, _ in fenced_blocks(path):
            assert language, f"{rel(path)}:{line}: name the fence's language (python, bash, text, ...)"
            assert language not in ("py", "python3", "pycon", "ipython"), f"{rel(path)}:{line}: use ```python"


@pytest.mark.parametrize("path", PAGES, ids=rel)
def test_no_link_into_shared(path):
    """A user has the checkout only: ../shared may be named as the benchmarks' default data folder, never linked."""
    for target in links(path):
        assert "shared" not in Path(target.split("#")[0]).parts, f"{rel(path)} links to {target}"
    text = path.read_text(encoding="utf-8")
    for match in re.finditer(r"\.\./shared\b[^\s`)\"']*", text):
        assert match.group(0).startswith("../shared/data") or match.group(0) == "../shared", (
            f"{rel(path)} refers to {match.group(0)}: only the data folder may be named"
        )
    assert "DESIGN.md" not in text and "STYLE.md" not in text, f"{rel(path)} refers to a design note outside the checkout"


@pytest.mark.parametrize("path", PAGES, ids=rel)
def test_links_between_pages_resolve(path):
    for target in links(path):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        assert destination.exists(), f"{rel(path)}: broken link {target}"
        if anchor and destination.suffix == ".md":
            assert anchor in anchors(destination), f"{rel(path)}: no heading for #{anchor} in {destination.name}"


def ci_commands() -> list[str]:
    """What .ci/run runs after moving to the checkout: each command line, in order (CI-only setup
    scripts in .ci/, such as the browser install, are not part of the README's command)."""
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [c for c in commands if not c.startswith(("set ", "cd ", "bash .ci/"))]


def test_the_readme_test_command_is_what_ci_runs():
    commands = ci_commands()
    assert any("pytest" in c for c in commands), commands
    readme_lines = [line.strip() for line in README.read_text(encoding="utf-8").splitlines()]
    test_commands = [line for line in readme_lines if "-m pytest" in line and not line.startswith("#")]
    assert test_commands, "README.md has no test command"
    assert test_commands[0] == " && ".join(commands), (
        f"README.md's test command:\n  {test_commands[0]}\nis not what .ci/run runs:\n  {' && '.join(commands)}"
    )


def test_the_readme_names_every_core_command_and_project_task():
    from nlp_apps.registry import ENTRY_POINT_GROUP, RESERVED_NAMES

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    tasks = set(project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {}))
    text = README.read_text(encoding="utf-8")
    for name in sorted(RESERVED_NAMES | tasks):
        assert f"nlp-apps {name}" in text, f"README.md does not show `nlp-apps {name}`"


def test_the_readme_results_are_explained_in_the_benchmarks_page():
    """Each decimal figure of the README's results table appears in docs/benchmarks.md (where its story is)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Results", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    figures = set(re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", table))
    assert figures, "no figures found in README.md's results table"
    benchmarks = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    missing = sorted(f for f in figures if f not in benchmarks)
    assert not missing, f"README.md quotes {missing}, which docs/benchmarks.md does not mention"
