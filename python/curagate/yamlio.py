"""The one way curagate reads YAML: every config, golden set, task file and
model-card front matter goes through :func:`load_yaml`.

On top of ``yaml.safe_load`` it refuses, as a :class:`ConfigError` naming the
file and the line:

- a key given twice in one mapping (YAML keeps the last value silently, so
  ``near: {threshold: 0.5}`` followed by another ``near:`` lost the threshold);
- a key given twice as the same value written differently (``0x1`` and ``1``,
  ``yes`` and ``true``, ``~`` and ``null``, ``1.0`` and ``1``): keys are compared
  as loaded, the way the mapping would merge them;
- two merge keys (``<<``) in one mapping (the first merge was lost). A key given
  both by a merge and directly is fine: the direct one wins, as YAML says;
- aliases (``*name``) that repeat anchored values more than
  :data:`ALIAS_BUDGET` times in all, or more than :data:`ALIAS_CHAR_BUDGET`
  characters of anchored text in all, and an alias inside the value it names:
  a few lines of nested aliases (an "alias bomb"), or a long string repeated by
  thousands of aliases, otherwise expand to billions of values or gigabytes as
  soon as anything copies the document;
- an integer of more than :data:`MAX_INT_DIGITS` digits (Python refuses to
  read one, and no setting takes one);
- nesting too deep to read (libyaml's limit; a RecursionError without it).

Anchors and aliases within that budget (a shared block of settings) stay usable.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curagate._lazy import lazy_import
from curagate.errors import ConfigError

if TYPE_CHECKING:
    import yaml
else:
    yaml = lazy_import("yaml")  # ~10 ms, and only a YAML file needs it

# Values that aliases may add to a document, beyond the values written in it.
ALIAS_BUDGET = 10_000
# Characters of scalars (keys and values) that aliases may add to a document.
ALIAS_CHAR_BUDGET = 1 << 20

_MERGE = "tag:yaml.org,2002:merge"
_INT = "tag:yaml.org,2002:int"
# Python refuses to read an int of more than 4300 digits (a ValueError, not a YAMLError).
MAX_INT_DIGITS = 4000


MAX_YAML_BYTES = 16 << 20


def read_yaml_file(path: str | os.PathLike[str]) -> tuple[Any, yaml.Node | None]:
    """:func:`load_yaml` of a file's bytes, which must be UTF-8.

    Text that is not UTF-8 is a ConfigError ``FILE:LINE: not UTF-8 (byte N)``;
    a file that cannot be read is an OSError for the caller to word.
    """
    from curagate.io.outputs import read_regular

    # A regular file of at most 16 MiB (a config's bound): a FIFO named set.yaml hung
    # `golden lock`, and a link to /dev/zero read without end.
    raw = read_regular(Path(path), MAX_YAML_BYTES, follow_links=True)
    return load_yaml(decode_utf8(raw, str(path)), str(path))


def decode_utf8(raw: bytes, source: str) -> str:
    """``raw`` as text, or a ConfigError naming the line and byte offset that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"{source}:{line}: not UTF-8 (byte {e.start}: {raw[e.start : e.start + 1]!r}); "
            "save the file as UTF-8"
        ) from None


@functools.cache
def _loader_class() -> type[Any]:
    """The safe loader, reading ``2e-5`` as the number YAML 1.2 and every reader of a
    training config take it for: YAML 1.1 floats need a dot (``2.0e-5``), so PyYAML
    gave the string "2e-5", which a setting that must be a number refuses. Built on
    first use: defining it when this module loads imported yaml in every command."""

    class _Loader(getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader):  # type: ignore[misc]
        pass

    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    return _Loader


def load_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document: its Python value and its node tree (line numbers).

    An empty document is ``(None, None)``. Every problem is a ConfigError
    ``SOURCE:LINE: ...``.
    """
    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        check_node(node, source)
        return loader.construct_document(node), node
    except yaml.reader.ReaderError as e:
        # A character YAML does not allow (a control character, NUL): the error has a
        # position in the text, not a mark.
        line = text.count("\n", 0, e.position) + 1
        char = e.character if isinstance(e.character, int) else ord(e.character[:1] or "\0")
        raise ConfigError(
            f"{source}:{line}: invalid YAML: the character U+{char:04X} is not allowed "
            "(control characters other than tab and newline); remove it"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(e, "problem", None) or e
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def check_node(root: yaml.Node, source: str) -> None:
    """Refuse duplicate keys, recursive aliases and aliases past the budget."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, characters) it expands to
    extra = 0  # values that aliases added
    extra_chars = 0  # characters of scalars that aliases added
    keys = yaml.constructor.SafeConstructor()  # builds scalar keys to compare them as loaded
    # Iterative post-order walk (a deep document must not exhaust Python's stack).
    stack: list[tuple[yaml.Node, str, bool]] = [(root, "", False)]
    open_: set[int] = set()
    while stack:
        node, path, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            kids = [sizes[id(c)] for c in _children(node)]
            own = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
            sizes[key] = (1 + sum(n for n, _ in kids), own + sum(c for _, c in kids))
            continue
        if key in sizes:  # seen before: reached again through an alias
            extra += sizes[key][0]
            extra_chars += sizes[key][1]
            if extra > ALIAS_BUDGET or extra_chars > ALIAS_CHAR_BUDGET:
                raise ConfigError(
                    f"{source}:{node.start_mark.line + 1}: {path or 'the document'}: aliases "
                    f"repeat anchored values more than {ALIAS_BUDGET} times or "
                    f"{ALIAS_CHAR_BUDGET} characters in all (an alias bomb?); write the values "
                    "out or use fewer aliases"
                )
            continue
        if key in open_:
            raise ConfigError(
                f"{source}:{node.start_mark.line + 1}: {path or 'the document'}: an alias "
                "refers to the value that contains it; write the value out"
            )
        open_.add(key)
        stack.append((node, path, True))
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag == _INT
            and len(node.value) > MAX_INT_DIGITS
        ):
            raise ConfigError(
                f"{source}:{node.start_mark.line + 1}: {path or 'the document'}: an integer "
                f"of more than {MAX_INT_DIGITS} digits; no setting takes one that large"
            )
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicates(node, path, source, keys)
            for k, v in reversed(node.value):
                name = k.value if isinstance(k, yaml.ScalarNode) else "?"
                child = f"{path}.{name}" if path else str(name)
                stack.append((v, child, False))
                stack.append((k, child, False))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in reversed(list(enumerate(node.value))):
                stack.append((v, f"{path}[{i}]", False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _refuse_duplicates(
    node: yaml.MappingNode, path: str, source: str, keys: yaml.constructor.SafeConstructor
) -> None:
    """Refuse two keys that load as the same value (and two merge keys)."""
    first: dict[Any, tuple[int, str]] = {}
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode):
            continue
        value: Any = ("<<",) if k.tag == _MERGE else keys.construct_object(k)
        try:
            seen = first.get(value)
        except TypeError:  # unhashable: the loader refuses it itself
            continue
        line = k.start_mark.line + 1
        if seen is not None:
            seen_line, seen_text = seen
            name = f"{path}.{k.value}" if path else k.value
            written = f"; written {seen_text} and {k.value}" if seen_text != k.value else ""
            raise ConfigError(
                f"{source}:{line}: {name}: key given twice (lines {seen_line} and {line}"
                f"{written}); YAML would keep only the last one: merge them into one"
            )
        first[value] = (line, k.value)
