"""The one way curagate reads YAML: every config, golden set, task file and
model-card front matter goes through :func:`load_yaml`.

On top of ``yaml.safe_load`` it refuses, as a :class:`ConfigError` naming the
file and the line:

- a key given twice in one mapping (YAML keeps the last value silently, so
  ``near: {threshold: 0.5}`` followed by another ``near:`` lost the threshold);
- aliases (``*name``) that repeat anchored values more than
  :data:`ALIAS_BUDGET` times in all, and an alias inside the value it names:
  a few lines of nested aliases (an "alias bomb") otherwise expand to billions
  of values as soon as anything copies the document;
- nesting too deep to read (libyaml's limit; a RecursionError without it).

Anchors and aliases within that budget (a shared block of settings) stay usable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from curagate._lazy import lazy_import
from curagate.errors import ConfigError

if TYPE_CHECKING:
    import yaml
else:
    yaml = lazy_import("yaml")  # ~10 ms, and only a YAML file needs it

# Values that aliases may add to a document, beyond the values written in it.
ALIAS_BUDGET = 10_000

_MERGE = "tag:yaml.org,2002:merge"


def load_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document: its Python value and its node tree (line numbers).

    An empty document is ``(None, None)``. Every problem is a ConfigError
    ``SOURCE:LINE: ...``.
    """
    loader_cls = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        check_node(node, source)
        return loader.construct_document(node), node
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
    sizes: dict[int, int] = {}  # id(node) -> values it expands to
    extra = 0  # values that aliases added
    # Iterative post-order walk (a deep document must not exhaust Python's stack).
    stack: list[tuple[yaml.Node, str, bool]] = [(root, "", False)]
    open_: set[int] = set()
    while stack:
        node, path, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in _children(node))
            continue
        if key in sizes:  # seen before: reached again through an alias
            extra += sizes[key]
            if extra > ALIAS_BUDGET:
                raise ConfigError(
                    f"{source}:{node.start_mark.line + 1}: {path or 'the document'}: aliases "
                    f"repeat anchored values more than {ALIAS_BUDGET} times in all (an alias "
                    "bomb?); write the values out or use fewer aliases"
                )
            continue
        if key in open_:
            raise ConfigError(
                f"{source}:{node.start_mark.line + 1}: {path or 'the document'}: an alias "
                "refers to the value that contains it; write the value out"
            )
        open_.add(key)
        stack.append((node, path, True))
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicates(node, path, source)
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


def _refuse_duplicates(node: yaml.MappingNode, path: str, source: str) -> None:
    first: dict[tuple[str, str], int] = {}
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode) or k.tag == _MERGE:
            continue
        line = k.start_mark.line + 1
        seen = first.get((k.tag, k.value))
        if seen is not None:
            name = f"{path}.{k.value}" if path else k.value
            raise ConfigError(
                f"{source}:{line}: {name}: key given twice (lines {seen} and {line}); "
                "YAML would keep only the last one: merge them into one"
            )
        first[(k.tag, k.value)] = line
