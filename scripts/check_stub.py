"""Check python/curagate/_core.pyi against the built extension `curagate._core`.

Every public function, class, method, property and exception of the module
must appear in the stub with the same parameters (names, kinds, defaults, as
far as PyO3's ``__text_signature__`` tells them), and the stub must declare
nothing the module lacks, except typing helpers (type aliases and Protocol
classes). Exit 0 when they agree, 1 with one line per difference.

    python scripts/check_stub.py [--stub PATH]

Why: the stub is what mypy checks every caller against; a stale stub hides a
changed binding until it fails at run time (tokenizers' ``stub.py --check``
does the same job).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

STUB = Path(__file__).resolve().parent.parent / "python" / "curagate" / "_core.pyi"

# Slots every pyclass may carry that stubs need not declare.
_IMPLICIT = {
    "__new__",
    "__init__",
    "__doc__",
    "__module__",
    "__hash__",
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__dict__",
    "__weakref__",
    # The buffer protocol (PEP 688): stubs declare `__buffer__` for type checkers, but
    # CPython exposes the slot as a method only from 3.12.
    "__buffer__",
    "__release_buffer__",
}
_UNKNOWN = object()  # a default the text signature renders as `...`

# (name, kind, default); kind: "pos", "kw" (keyword-only), "*args", "**kwargs"
Param = tuple[str, str, Any]


def _default(node: ast.expr | None) -> Any:
    if node is None:
        return None
    if isinstance(node, ast.Constant) and node.value is Ellipsis:
        return _UNKNOWN
    # Stub defaults are literals or constant expressions such as `1 << 30`.
    return eval(compile(ast.Expression(node), "<default>", "eval"), {"__builtins__": {}})


def _params(args: ast.arguments, skip_first: bool) -> list[Param]:
    out: list[Param] = []
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += args.defaults
    for a, d in zip(positional, defaults, strict=True):
        out.append((a.arg, "pos", _default(d) if d is not None else None))
    if args.vararg:
        out.append((args.vararg.arg, "*args", None))
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out.append((a.arg, "kw", _default(d) if d is not None else None))
    if args.kwarg:
        out.append((args.kwarg.arg, "**kwargs", None))
    return out[1:] if skip_first else out


def _runtime_params(text_signature: str) -> list[Param]:
    """Parameters of a PyO3 text signature such as ``($self, a, *, b=1)``."""
    sig = text_signature.replace("$self", "self").replace("$type", "cls")
    fn = ast.parse(f"def f{sig}: pass").body[0]
    assert isinstance(fn, ast.FunctionDef)
    positional = [*fn.args.posonlyargs, *fn.args.args]
    first = positional[0].arg if positional else None
    return _params(fn.args, skip_first=first in ("self", "cls"))


def _same(stub: list[Param], runtime: list[Param]) -> bool:
    if [(n, k) for n, k, _ in stub] != [(n, k) for n, k, _ in runtime]:
        return False
    for (_, _, a), (_, _, b) in zip(stub, runtime, strict=True):
        if _UNKNOWN in (a, b):
            continue
        if a != b or type(a) is not type(b):
            return False
    return True


def _show(params: list[Param]) -> str:
    def one(p: Param) -> str:
        name, kind, default = p
        prefix = {"*args": "*", "**kwargs": "**"}.get(kind, "")
        suffix = "" if default is None else "=..." if default is _UNKNOWN else f"={default!r}"
        return f"{prefix}{name}{suffix}"

    kw_start = next((i for i, p in enumerate(params) if p[1] == "kw"), None)
    parts = [one(p) for p in params]
    if kw_start is not None and not any(p[1] == "*args" for p in params):
        parts.insert(kw_start, "*")
    return f"({', '.join(parts)})"


class _StubClass:
    def __init__(self, node: ast.ClassDef) -> None:
        self.node = node
        self.bases = [ast.unparse(b) for b in node.bases]
        self.methods: dict[str, ast.FunctionDef] = {}
        self.properties: set[str] = set()
        for item in node.body:
            if isinstance(item, ast.FunctionDef):
                decorators = {ast.unparse(d) for d in item.decorator_list}
                if "property" in decorators:
                    self.properties.add(item.name)
                else:
                    self.methods[item.name] = item
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                self.properties.add(item.target.id)  # `x: Final[int]`: a read-only attribute

    @property
    def is_protocol(self) -> bool:
        return "Protocol" in self.bases


def check(module: ModuleType, stub_path: Path) -> list[str]:
    tree = ast.parse(stub_path.read_text(encoding="utf-8"), str(stub_path))
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    classes = {n.name: _StubClass(n) for n in tree.body if isinstance(n, ast.ClassDef)}
    problems: list[str] = []
    runtime = {n: getattr(module, n) for n in dir(module) if not n.startswith("_")}

    for name, obj in sorted(runtime.items()):
        if isinstance(obj, type):
            stub_class = classes.get(name)
            if stub_class is None:
                problems.append(f"class {name}: in the module, missing from the stub")
                continue
            problems += _check_class(name, obj, stub_class)
        elif callable(obj):
            fn = functions.get(name)
            if fn is None:
                problems.append(f"function {name}: in the module, missing from the stub")
                continue
            want = _runtime_params(obj.__text_signature__)
            got = _params(fn.args, skip_first=False)
            if not _same(got, want):
                problems.append(f"function {name}: stub {_show(got)} != module {_show(want)}")
    for name in sorted(functions.keys() - runtime.keys()):
        problems.append(f"function {name}: in the stub, not in the module")
    for name, c in sorted(classes.items()):
        if name not in runtime and not c.is_protocol:
            problems.append(f"class {name}: in the stub, not in the module")
    return problems


def _check_class(name: str, cls: type, stub: _StubClass) -> list[str]:
    problems: list[str] = []
    if issubclass(cls, BaseException):
        base = cls.__bases__[0].__name__
        if stub.bases != [base]:
            problems.append(f"exception {name}: stub bases {stub.bases} != module ({base})")
        return problems
    # The constructor: the class's text signature (PyO3's #[new]) vs the stub's __init__.
    init = stub.methods.get("__init__")
    text_sig = getattr(cls, "__text_signature__", None)
    if text_sig is None and init is not None:
        problems.append(f"{name}.__init__: in the stub, but the class cannot be constructed")
    elif text_sig is not None:
        want = _runtime_params(text_sig)
        if init is None:
            problems.append(f"{name}.__init__: missing from the stub (module {_show(want)})")
        else:
            got = _params(init.args, skip_first=True)
            if not _same(got, want):
                problems.append(f"{name}.__init__: stub {_show(got)} != module {_show(want)}")
    members = {k: v for k, v in vars(cls).items() if k not in _IMPLICIT}
    for attr, value in sorted(members.items()):
        kind = type(value).__name__
        if kind in ("getset_descriptor", "member_descriptor"):
            if attr not in stub.properties:
                problems.append(f"{name}.{attr}: a property in the module, not in the stub")
            continue
        method = stub.methods.get(attr)
        if method is None:
            what = "a property" if attr in stub.properties else "missing"
            problems.append(f"{name}.{attr}: a method in the module, {what} in the stub")
            continue
        sig = getattr(value, "__text_signature__", None)
        if sig is None:
            continue
        want = _runtime_params(sig)
        got = _params(method.args, skip_first=True)
        if not _same(got, want):
            problems.append(f"{name}.{attr}: stub {_show(got)} != module {_show(want)}")
    for attr in sorted((stub.methods.keys() | stub.properties) - members.keys() - _IMPLICIT):
        problems.append(f"{name}.{attr}: in the stub, not in the module")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stub", type=Path, default=STUB, help="the .pyi to check")
    args = parser.parse_args(argv)
    from curagate import _core

    problems = check(_core, args.stub)
    for p in problems:
        print(f"{args.stub}: {p}", file=sys.stderr)
    if problems:
        print(
            f"{len(problems)} difference(s) between {args.stub} and {_core.__file__}; "
            "update the stub to match the bindings",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
