"""Which plain YAML scalars are numbers, as Go's YAML reads them (yaml.v2 and yaml.v3 agree).

Kubernetes tools read manifests with Go: kubectl, ``helm install`` and Argo CD through
sigs.k8s.io/yaml (yaml.v2), kustomize and so Flux through yaml.v3. Both take a plain scalar
starting with a digit, a sign or a dot as a number when Go's ``strconv`` parses it (its
underscores removed first), and as a string otherwise; a timestamp stays its text. PyYAML
follows YAML 1.1 instead, which differs: ``1:30`` is 90 there (sexagesimal) and ``=`` a
``!!value``, where Go reads the strings ``"1:30"`` and ``"="`` (prometheus-operator's CRDs
write ``- =`` in an enum); ``1e3``, ``09`` and ``0o17`` are strings there, numbers in Go.
Booleans are left to PyYAML: yaml.v2 reads ``y``/``n`` as booleans, yaml.v3 not even
``yes``/``on``, and YAML 1.1 sits between the two.
Owns: ``number_tag`` and the integer and float spellings. Must not touch: files, tools.
"""

from __future__ import annotations

import re

#: The first characters of plain scalars Go may read as numbers.
NUMBER_STARTS = frozenset("0123456789+-.")
#: ``strconv.ParseInt(s, 0, 64)``'s spellings (``0x1F``, ``0o17``, ``0777``, ``-0b11``).
_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_OCTAL = re.compile(r"[-+]?0[0-7]+")
#: yaml.v2/v3's ``yamlStyleFloat``: ``1e3``, ``1.5e3``, ``09``, ``-.5``.
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
#: After a leading dot Go tries ``strconv.ParseFloat`` on the text as written: ``_`` only
#: between digits.
_DOT_FLOAT = re.compile(r"\.[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+(?:_[0-9]+)*)?")
#: Infinities and NaN, as both spell them (JSON has none: the loader refuses them).
SPECIAL_FLOATS = frozenset(
    {".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}
    | {"-.inf", "-.Inf", "-.INF"}
)


def number_tag(value: str) -> str:
    """``int``, ``float`` or ``str``: what Go makes of the plain scalar ``value`` (which
    starts with one of ``NUMBER_STARTS``)."""
    if value in SPECIAL_FLOATS:
        return "float"
    if value[0] == ".":
        return "float" if _DOT_FLOAT.fullmatch(value) else "str"
    plain = value.replace("_", "")
    if _INT.fullmatch(plain):
        return "int"
    return "float" if _FLOAT.fullmatch(plain) else "str"


def parse_int(text: str) -> int:
    """An integer spelt as ``strconv.ParseInt(s, 0, ...)`` takes it; ValueError otherwise."""
    plain = text.replace("_", "")
    if not _INT.fullmatch(plain):
        raise ValueError("not an integer as Go spells one")
    return int(plain, 8) if _OCTAL.fullmatch(plain) else int(plain, 0)


def parse_float(text: str) -> float:
    """A float (or an integer, or an infinity or NaN) as Go's YAML spells one; ValueError
    otherwise."""
    if text in SPECIAL_FLOATS:
        return float(text.lower().replace(".", ""))
    plain = text.replace("_", "")
    if _INT.fullmatch(plain):
        return float(parse_int(plain))
    if _FLOAT.fullmatch(plain):
        return float(plain)
    raise ValueError("not a number as Go spells one")
