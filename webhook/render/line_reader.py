"""A manifest file's text as kubectl's reader hands its documents to YAML.

kubectl (apimachinery's ``YAMLReader``; Argo CD's directory apps and ``helm install`` read
through it too) does not give a file to YAML whole: it reads it line by line, ends every
line with a line break, and cuts it into documents at ``---`` lines, each then read as a
stream of its own. Two differences from reading the text as one YAML stream follow, both
found on real repositories: a block scalar on a last line without a line break
(``script: |`` at the end of a file an editor saved without one) keeps its final newline;
a byte order mark opening a later document (Windows-saved files joined with ``cat``) is
dropped, as a stream's first mark is, instead of beginning the first key.
kustomize (so Flux) drops that mark alike, but not the final newline: the README says so.
Owns: ``as_kubectl_reads``. Must not touch: files, parsing (documents.py), tools.
"""

from __future__ import annotations

import re

#: A ``---`` line (spaces or a comment may follow it, as kubectl allows), then a mark.
_BOM_AFTER_SEPARATOR = re.compile("^(---[ \t]*(?:#[^\r\n]*)?\r?\n)\ufeff", re.MULTILINE)


def as_kubectl_reads(text: str) -> str:
    """``text`` with a line break after its last line and no byte order mark opening a
    document after the first; lines, and so error line numbers, stay where they were."""
    if text and not text.endswith(("\n", "\r")):
        text += "\n"
    return _BOM_AFTER_SEPARATOR.sub(r"\1", text)
