"""What ``python -m ahnpl_plugin.data check`` prints: findings per config part, and problems with fixes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CheckReport:
    """``lines``: what was found (counts, rates); ``problems``: each a sentence saying what to fix;
    ``images``: image files found on disk, by split (``data check --decode`` opens them)."""

    title: str
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    images: dict[str, list[str]] = field(default_factory=dict)

    def add(self, line: str) -> None:
        self.lines.append(line)

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def render(self) -> str:
        out = [f"[{self.title}]"] + [f"  {line}" for line in self.lines]
        out += [f"  PROBLEM: {p}" for p in self.problems]
        return "\n".join(out)


def percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"
