"""The README and docs/: the README stays short, every relative link (and its #anchor) leads somewhere, and every
``python -m GANSynthesisLib …`` command names a real subcommand and parses with the real command line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from GANSynthesisLib.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
COMMAND = re.compile(r"python -m GANSynthesisLib\b[^`\n]*")


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def without_code_blocks(text: str) -> str:
    return FENCE.sub("", text)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    found: set[str] = set()
    for line in without_code_blocks(page.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).replace("`", "").lower()).replace(" ", "-")
            number, unique = 0, slug
            while unique in found:
                number += 1
                unique = f"{slug}-{number}"
            found.add(unique)
    return found


def commands(page: Path) -> list[str]:
    """Every ``python -m GANSynthesisLib …`` in the page: code-block lines (continuations joined, comments cut) and
    inline code spans."""
    text = page.read_text(encoding="utf-8").replace("\\\n", " ")
    found = []
    for match in COMMAND.finditer(text):
        command = match.group(0)
        if " #" in command:
            command = command[: command.index(" #")]
        found.append(" ".join(command.split()))
    return found


def test_docs_exist_and_the_readme_is_short():
    assert len(PAGES) > 1, "docs/ has no pages"
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; keep it to {README_MAX_LINES} and move detail to docs/"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_lead_to_files_and_anchors(page):
    broken = []
    for target in LINK.findall(without_code_blocks(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target} (no heading #{anchor} in {destination.name})")
    assert not broken, f"{page_id(page)}: broken links: {broken}"


SUBCOMMANDS = set(next(action for action in build_parser()._actions if action.dest == "command").choices)
ALL_COMMANDS = [(page, command) for page in PAGES for command in commands(page)]


def test_the_docs_show_every_subcommand():
    shown = {command.split()[3] for _, command in ALL_COMMANDS if len(command.split()) > 3}
    assert SUBCOMMANDS <= shown, f"not shown anywhere in README.md or docs/: {sorted(SUBCOMMANDS - shown)}"


@pytest.mark.parametrize("page,command", ALL_COMMANDS, ids=[f"{page_id(p)}: {c[26:60]}" for p, c in ALL_COMMANDS])
def test_commands_name_a_real_subcommand_and_parse(page, command):
    words = command.split()
    if len(words) < 4 or words[3].startswith("<"):  # "python -m GANSynthesisLib <command> --help": a placeholder
        return
    assert words[3] in SUBCOMMANDS, f"{page_id(page)}: {words[3]!r} is not a subcommand ({', '.join(sorted(SUBCOMMANDS))})"
    if any(mark in command for mark in ("<", "[", "…", "...")):  # a pattern, not a command to run
        return
    arguments = shlex.split(command)[3:]
    try:
        build_parser().parse_args(arguments)
    except SystemExit as exit_:  # argparse's way to refuse (status 2); --help ends with 0
        if exit_.code != 0:
            pytest.fail(f"{page_id(page)}: `{command}` does not parse (exit status {exit_.code})")
