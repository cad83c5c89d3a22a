"""The examples of the documentation (docs/*.md and the README), as the tests run them.

A page's examples are its fenced blocks, in order: ``console`` blocks, whose ``$ `` lines are commands;
``python`` blocks, which run as scripts; and ``{code-block} python`` blocks with a ``:caption:``, which
are files of that name that later commands use. ``text`` blocks are output and syntax, not run.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"

_FENCE = re.compile(r"^```(\{code-block\} )?([\w-]+)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Example:
    """One example of a page: a command, a script, or a file (``caption`` names it)."""

    page: str
    kind: str  # "command", "python" or "file"
    text: str
    line: int
    caption: str | None = None

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text.splitlines()[0] if self.text else ''}"

    @property
    def argv(self) -> list[str]:
        """The command's words as the shell splits them, its comment left out."""
        return shlex.split(self.text, comments=True)


def pages() -> list[Path]:
    """Every page whose examples run: the site's and the README."""
    return [*sorted(DOCS.glob("*.md")), README]


def page_name(path: Path) -> str:
    return path.name if path == README else f"docs/{path.name}"


def examples(path: Path) -> list[Example]:
    """The page's examples, in the order of the page."""
    text = path.read_text()
    found: list[Example] = []
    for match in _FENCE.finditer(text):
        directive, language, body = match.group(1), match.group(2), match.group(3)
        line = text.count("\n", 0, match.start()) + 1
        if language == "console":
            found.extend(_commands(page_name(path), body, line))
        elif language == "python":
            caption = None
            if directive:
                options = re.findall(r"^:(\w+): *(.*)$", body, flags=re.MULTILINE)
                caption = dict(options).get("caption")
                body = re.sub(r"^:\w+:.*\n", "", body, flags=re.MULTILINE).lstrip("\n")
            found.append(Example(page_name(path), "file" if caption else "python", body, line, caption))
    return found


def _commands(page: str, body: str, first_line: int) -> list[Example]:
    """The ``$ `` lines of a console block (a trailing backslash continues a command)."""
    commands: list[Example] = []
    pending: list[str] = []
    start = first_line
    for offset, line in enumerate(body.splitlines(), start=first_line + 1):
        if pending:
            pending.append(line)
        elif line.startswith("$ "):
            pending, start = [line[2:]], offset
        else:
            continue
        if not line.endswith("\\"):
            commands.append(Example(page, "command", "\n".join(pending), start))
            pending = []
    return commands


def example(page: str, kind: str, contains: str) -> Example:
    """The one example of a page (``docs/advise.md``) of that kind whose text contains ``contains``."""
    path = README if page == "README.md" else ROOT / page
    [found] = [e for e in examples(path) if e.kind == kind and contains in e.text]
    return found
