"""Argo CD's ``directory`` options for a plain folder: ``recurse``, ``include``, ``exclude``.

Owns: which files of an app's plain folder those options select, read the way Argo CD's
repo server reads them (``findManifests``): each pattern is matched against the file's path
relative to the app folder with gobwas/glob and no separators, so ``*`` and ``?`` cross
``/``; ``[abc]``, ``[!abc]``, ``[a-z]`` are one character; ``{a.yaml,b.yaml}`` are
alternatives; ``\\`` escapes. An exclude wins over an include; ``recurse`` off leaves
subfolders out. Written here because no library matches gobwas's grammar (one range or one
list per bracket, ``*`` spanning folders) and both the render and the receiver need it.
Must not touch: files, the cluster, the queue (pure functions over names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

#: Longer patterns are refused: they come from the config, not from a repository.
MAX_PATTERN = 1000


@lru_cache(maxsize=256)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """``pattern`` as a regex matching whole relative paths; ValueError names what is wrong."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"is longer than {MAX_PATTERN} characters")
    out: list[str] = []
    depth, i = 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 == len(pattern):
                raise ValueError("ends in an escaping '\\'")
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if char == "*":
            out.append(".*")  # '**' is the same without separators
        elif char == "?":
            out.append(".")
        elif char == "[":
            body, i = _bracket(pattern, i)
            out.append(body)
            continue
        elif char == "{":
            depth += 1
            out.append("(?:")
        elif char == "," and depth:
            out.append("|")
        elif char == "}" and depth:
            depth -= 1
            out.append(")")
        else:
            out.append(re.escape(char))
        i += 1
    if depth:
        raise ValueError("has a '{' without its '}'")
    return re.compile("".join(out), re.DOTALL)


def _bracket(pattern: str, start: int) -> tuple[str, int]:
    """One ``[...]`` at ``start``: a regex class and the index after ``]``. gobwas takes one
    range (``a-z``) or one list of characters (``abc``, ``\\`` escaping), negated by ``!``."""
    chars: list[str] = []
    i = start + 1
    negate = pattern.startswith("!", i)
    i += negate
    while i < len(pattern) and pattern[i] != "]":
        i += pattern[i] == "\\"
        chars += pattern[i : i + 1]
        i += 1
    if i >= len(pattern):
        raise ValueError("has a '[' without its ']'")
    shown = pattern[start : i + 1]
    if len(chars) >= 2 and pattern[start + 1 + negate + 1] == "-":
        if len(chars) != 3 or chars[2] < chars[0]:
            raise ValueError(f"has {shown!r}: a bracket holds one range such as '[a-z]' or a list")
        inner = f"{re.escape(chars[0])}-{re.escape(chars[2])}"
    elif chars:
        inner = "".join(map(re.escape, chars))
    else:
        raise ValueError(f"has an empty {shown!r}")
    return f"[{'^' if negate else ''}{inner}]", i + 1


@dataclass(frozen=True, kw_only=True)
class DirectoryFilter:
    """Which files of a plain folder are read; the default reads them all (Flux's way)."""

    recurse: bool = True
    include: str | None = None
    exclude: str | None = None

    @property
    def narrows(self) -> bool:
        """Whether it leaves anything out."""
        return not self.recurse or bool(self.include) or bool(self.exclude)

    def selects(self, relative: str) -> bool:
        """Whether the file at ``relative`` (POSIX, from the app folder) is read."""
        if not self.recurse and "/" in relative:
            return False
        if self.exclude and compile_glob(self.exclude).fullmatch(relative):
            return False
        return not self.include or bool(compile_glob(self.include).fullmatch(relative))
