"""YAML and JSON text -> JSON-typed data, bounded, with errors that name the file and line.

Kubernetes reads manifests through sigs.k8s.io/yaml (yaml.v2, then JSON), so only what JSON
can carry is accepted: null, booleans, integers, finite floats, strings, lists and string-
keyed mappings. As there, timestamps stay the strings they were written as, and integer or
boolean mapping keys become their text (``1`` -> ``"1"``, ``true`` -> ``"true"``), and a
plain scalar is a number only when Go reads one (``scalars``: ``1:30`` and ``=`` are
strings, ``1e3`` a number); other
keys, other tags (``!!set``, ``!!binary``, ``!!python/...``, ``!local``), NaN and infinity
are refused, and in files people write a key written twice in one mapping. Depth and alias
expansion are bounded (``limits``).
Must not touch: files, tools, the cluster.
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterator
from typing import Any, ClassVar

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import Resolver

try:
    from yaml.cyaml import CParser as _CParser  # type: ignore[attr-defined]
except ImportError:  # PyYAML built without libyaml: the pure-Python loader does it all
    _CParser = None  # type: ignore[assignment,misc]

from webhook.render import limits, line_reader, scalars
from webhook.render.output import Rendered, RenderError

_TAG = "tag:yaml.org,2002:"
_JSON_TAGS = ("null", "bool", "int", "float", "str", "seq", "map")

_LONE_SURROGATE = "a string holds a lone UTF-16 surrogate escape: not valid Unicode"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refused(problem: str, node: yaml.Node) -> ConstructorError:
    return ConstructorError(problem=problem, problem_mark=node.start_mark)


class _JsonLoader(yaml.SafeLoader):
    """A SafeLoader for JSON types only; counts nodes (aliases expanded) and depth."""

    yaml_constructors: ClassVar[dict[Any, Any]] = {
        _TAG + name: SafeConstructor.yaml_constructors[_TAG + name] for name in _JSON_TAGS
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}
        self._depths: dict[int, int] = {}
        self._nesting = 0
        #: Anchors of the nodes being composed: an alias to one of them is a cycle.
        self._open: set[str] = set()

    def compose_document(self) -> yaml.Node | None:
        self._sizes, self._depths = {}, {}
        return super().compose_document()

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """PyYAML's, bounded; an anchor defined again replaces the first for the aliases
        after it, as YAML 1.2 and Go's yaml.v2/v3 (so kubectl, Argo CD and Flux) read it
        (``&port`` on two ports of one HelmRelease), where PyYAML refuses the file."""
        self._nesting += 1
        try:
            event: Any = self.peek_event()  # type: ignore[no-untyped-call]
            if self._nesting > limits.MAX_DEPTH:
                raise yaml.MarkedYAMLError(
                    problem=f"nested deeper than {limits.MAX_DEPTH} levels",
                    problem_mark=event.start_mark,
                )
            anchor, alias = event.anchor, isinstance(event, yaml.AliasEvent)
            if alias and anchor in self._open:
                raise yaml.MarkedYAMLError(
                    problem=f"alias *{anchor} is inside the node it names (a cycle JSON "
                    "cannot hold)",
                    problem_mark=event.start_mark,
                )
            if not alias and anchor is not None:
                self.anchors.pop(anchor, None)
                self._open.add(anchor)
            node = super().compose_node(parent, index)
            self._open.discard(anchor)
        finally:
            self._nesting -= 1
        if node is not None and id(node) not in self._sizes:
            self._measure(node)
        return node

    def _measure(self, node: yaml.Node) -> None:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        size = 1 + sum(self._sizes.get(id(c), 1) for c in children)
        depth = 1 + max((self._depths.get(id(c), 1) for c in children), default=0)
        if size > limits.MAX_EXPANDED_NODES:
            raise yaml.MarkedYAMLError(
                problem=f"document expands to more than {limits.MAX_EXPANDED_NODES} nodes "
                "(alias bomb or oversized document)",
                problem_mark=node.start_mark,
            )
        if depth > limits.MAX_DEPTH + 1:  # scalars count as a level of their own
            raise yaml.MarkedYAMLError(
                problem=f"nested deeper than {limits.MAX_DEPTH} levels (through aliases)",
                problem_mark=node.start_mark,
            )
        self._sizes[id(node)] = size
        self._depths[id(node)] = depth

    def construct_undefined(self, node: yaml.Node) -> Any:
        raise _refused(
            f"tag {node.tag!r} is not allowed: manifests hold JSON types only "
            "(null, boolean, number, string, list, mapping)",
            node,
        )

    def resolve(self, kind: Any, value: str, implicit: tuple[bool, bool]) -> str:
        """Plain numbers as Go reads them (``scalars``); YAML 1.1's ``=`` (PyYAML's
        ``!!value``) is the string ``=`` there."""
        if kind is yaml.ScalarNode and implicit[0] and value[:1] in scalars.NUMBER_STARTS:
            return _TAG + scalars.number_tag(value)
        tag = str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]
        return _TAG + "str" if tag == _TAG + "value" else tag

    def construct_checked_int(self, node: yaml.ScalarNode) -> int:
        try:
            return scalars.parse_int(str(self.construct_scalar(node)))
        except ValueError as exc:  # ``!!int ''``, ``!!int 1:30``, 5,000 digits
            raise _refused(f"{node.value[:40]!r} is not a valid integer: {exc}", node) from exc

    def construct_checked_bool(self, node: yaml.ScalarNode) -> bool:
        try:
            return bool(self.construct_yaml_bool(node))
        except KeyError as exc:  # ``!!bool maybe``
            raise _refused(f"{node.value[:40]!r} is not a valid boolean", node) from exc

    def construct_finite_float(self, node: yaml.ScalarNode) -> float:
        try:
            value = scalars.parse_float(str(self.construct_scalar(node)))
        except ValueError as exc:  # ``!!float ''``, ``!!float x``, ``!!float 1:30``
            raise _refused(f"{node.value[:40]!r} is not a valid number", node) from exc
        if not math.isfinite(value):
            raise _refused(f"{node.value!r} is not a finite number (JSON has none)", node)
        return value

    def construct_text(self, node: yaml.ScalarNode) -> str:
        """A string; escaped UTF-16 pairs (``"\\ud83d\\ude00"``) joined as JSON joins them."""
        value = str(self.construct_scalar(node))
        if not _encodable(value):
            try:
                value = value.encode("utf-16", "surrogatepass").decode("utf-16")
            except UnicodeDecodeError as exc:
                raise _refused(_LONE_SURROGATE, node) from exc
        return value

    def construct_timestamp_text(self, node: yaml.ScalarNode) -> str:
        return str(self.construct_scalar(node))

    #: Refuse a key written twice in one mapping (files people write; see ``load_yaml_documents``).
    unique_keys = False

    def refuse_duplicate_keys(self, node: yaml.MappingNode) -> None:
        """Kustomize (so Flux) refuses a key written twice in one mapping; keeping the last
        would apply what a reviewer read past. Keys a merge (``<<``) brings in may be
        overridden, as YAML allows."""
        seen: dict[str, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _TAG + "merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            text = ("true" if key else "false") if isinstance(key, bool) else str(key)
            if text in seen:
                line = seen[text].start_mark.line + 1
                raise _refused(
                    f"mapping key {text!r} is defined twice in one mapping (also at line "
                    f"{line}), which kustomize and Flux refuse",
                    key_node,
                )
            seen[text] = key_node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if self.unique_keys:
            self.refuse_duplicate_keys(node)
        mapping = super().construct_mapping(node, deep=deep)
        out: dict[str, Any] = {}
        for key, value in mapping.items():
            if isinstance(key, bool):
                key = "true" if key else "false"
            elif isinstance(key, int):
                key = str(key)
            elif not isinstance(key, str):
                raise _refused(
                    f"mapping key {key!r} is not a string (quote it): JSON keys are strings",
                    node,
                )
            out[key] = value
        return out


_JsonLoader.add_constructor(None, _JsonLoader.construct_undefined)
_JsonLoader.add_constructor(_TAG + "float", _JsonLoader.construct_finite_float)
_JsonLoader.add_constructor(_TAG + "str", _JsonLoader.construct_text)
_JsonLoader.add_constructor(_TAG + "int", _JsonLoader.construct_checked_int)
_JsonLoader.add_constructor(_TAG + "bool", _JsonLoader.construct_checked_bool)
_JsonLoader.add_constructor(_TAG + "timestamp", _JsonLoader.construct_timestamp_text)


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode(raw: bytes, name: str) -> str:
    """A file's text as kustomize's YAML reader takes it: UTF-8, or UTF-16 with its byte
    order mark (what Windows tools write); anything else is a RenderError naming the file."""
    encoding = next((codec for bom, codec in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise RenderError(f"{name}: not UTF-8 text (nor UTF-16 with a byte order mark)") from exc


def _yaml_error(name: str, exc: yaml.YAMLError) -> RenderError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{name}:{mark.line + 1}" if mark is not None else name
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    return RenderError(f"{where}: invalid YAML: {detail}")


def _check_size(text: str, name: str) -> None:
    if len(text) > limits.MAX_DOCUMENT_BYTES or (
        len(text.encode("utf-8")) > limits.MAX_DOCUMENT_BYTES
    ):
        raise RenderError(f"{name}: larger than {limits.MAX_DOCUMENT_BYTES} bytes")


class _FastJsonLoader(_JsonLoader):
    """The same composer, constructors and bounds, fed events by libyaml's parser.

    Scanning and parsing are most of the pure-Python loader's cost (about nine tenths on a
    500-object file); libyaml's parser is a state machine with its own nesting limit, and
    nodes are still composed here, so the depth and alias-expansion bounds hold as before.
    """

    def __init__(self, stream: str) -> None:
        self._events = _CParser(stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._sizes, self._depths, self._nesting, self._open = {}, {}, 0, set()

    def check_event(self, *choices: Any) -> bool:
        return bool(self._events.check_event(*choices))

    def peek_event(self) -> Any:
        return self._events.peek_event()

    def get_event(self) -> Any:
        return self._events.get_event()

    def dispose(self) -> None:
        self._events.dispose()


def load_yaml_documents(
    text: str, name: str, *, unique_keys: bool = False
) -> list[tuple[Any, int]]:
    """Parse a multi-document YAML text with bounds; return (data, 1-based line) pairs.

    ``unique_keys``: refuse a key written twice in one mapping, for manifests people write
    (a tool's output is taken as Argo CD takes it: the last one counts).

    libyaml parses when it is installed; any text it refuses (or cannot take) is parsed
    again by the pure-Python loader, whose answer (and error message) is the one given.
    """
    if _CParser is not None:
        try:
            return _load(_FastJsonLoader, text, name, unique_keys)
        except (RenderError, UnicodeError, ValueError):
            pass
    return _load(_JsonLoader, text, name, unique_keys)


def _load(
    loader_class: type[_JsonLoader], text: str, name: str, unique_keys: bool = False
) -> list[tuple[Any, int]]:
    _check_size(text, name)
    try:
        loader = loader_class(text)  # the reader refuses control characters here already
        loader.unique_keys = unique_keys
    except yaml.YAMLError as exc:
        raise _yaml_error(name, exc) from exc
    documents: list[tuple[Any, int]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            if len(documents) >= limits.MAX_OBJECTS:
                raise RenderError(f"{name}: more than {limits.MAX_OBJECTS} documents")
            line = node.start_mark.line + 1
            documents.append((loader.construct_document(node), line))
    except yaml.YAMLError as exc:
        raise _yaml_error(name, exc) from exc
    except (ValueError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
        raise RenderError(f"{name}: invalid YAML: {exc}") from exc
    except RecursionError as exc:  # the depth bound should make this unreachable
        raise RenderError(f"{name}: invalid YAML: nested too deeply") from exc
    finally:
        loader.dispose()
    return documents


def _json_problem(data: Any) -> str | None:
    """What makes parsed JSON unusable (too deep, a lone surrogate), without recursing."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str) and not _encodable(item):
            return _LONE_SURROGATE
        if isinstance(item, dict | list):
            if depth > limits.MAX_DEPTH:
                return f"nested deeper than {limits.MAX_DEPTH} levels"
            children = [*item, *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def _not_finite(constant: str) -> Any:
    raise ValueError(f"{constant} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a finite number")
    return value


def load_json(text: str, name: str) -> Any:
    """Parse one JSON text with the YAML loader's bounds (size, depth, finite numbers)."""
    _check_size(text, name)
    try:
        data = json.loads(text, parse_constant=_not_finite, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise RenderError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except ValueError as exc:
        raise RenderError(f"{name}: invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise RenderError(f"{name}: invalid JSON: nested deeper than {limits.MAX_DEPTH}") from exc
    problem = _json_problem(data)
    if problem:
        raise RenderError(f"{name}: invalid JSON: {problem}")
    return data


def _is_list(data: dict[str, Any]) -> bool:
    """``kind: List`` or a typed list (``ConfigMapList``, what ``kubectl get -o yaml``
    writes) with its ``items``, as kubectl and Argo CD expand them; null items are none."""
    kind = data.get("kind")
    return (
        isinstance(kind, str)
        and kind.endswith("List")
        and "items" in data
        and isinstance(data["items"], list | None)
    )


def objects_of(data: Any, source: str) -> Iterator[Rendered]:
    """Validate one parsed document; expand lists (``_is_list``); skip empty documents."""
    if data is None:
        return
    if not isinstance(data, dict):
        raise RenderError(f"{source}: a document must be a mapping, not {type(data).__name__}")
    if _is_list(data):
        for index, item in enumerate(data["items"] or []):
            yield from objects_of(item, f"{source} (items[{index}])")
        return
    yield Rendered(body=data, source=source)


def parse_stream(text: str, name: str, *, unique_keys: bool = False) -> list[Rendered]:
    """Objects from a multi-document YAML (or JSON, a YAML subset) text named ``name``,
    its lines and documents as kubectl's reader hands them over (``line_reader``)."""
    text = line_reader.as_kubectl_reads(text)
    out: list[Rendered] = []
    for data, line in load_yaml_documents(text, name, unique_keys=unique_keys):
        out.extend(objects_of(data, f"{name}:{line}"))
    return out
