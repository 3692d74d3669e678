"""``pyarrow.compute`` for the readers' hot path, without importing it.

``import pyarrow.compute`` builds a documented Python wrapper around each of
Arrow's ~300 kernels (parsing the docstring of every options class, with
pydoc): ~60 ms, as much as `curagate check` takes to read and check a few
thousand records. So does the first ``Array.cast``, ``.filter``, ``.take``,
``.is_null`` or ``.flatten`` of a process, which import it to call the kernel.
The readers (``records.py``, ``io/readers.py``) bind this module as ``pc``
and spell those methods as ``pc`` functions: the kernels they use are called
here through ``pyarrow._compute.call_function``, which is what the wrappers
and methods call, with the options they pass: same kernels, same results.
Any other name is looked up in the real ``pyarrow.compute`` (imported then).
``tests/test_startup.py`` checks that `curagate check` on records of the
common shapes, bad rows among them, never imports ``pyarrow.compute``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from curagate._lazy import lazy_import

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow._compute as _compute
else:
    pa = lazy_import("pyarrow")
    _compute = lazy_import("pyarrow._compute")

# pyarrow.compute's name -> the kernel's, for the kernels called with their
# default options (as the wrappers call them when given no options).
_PLAIN = {
    "add": "add",
    "binary_join": "binary_join",
    "binary_join_element_wise": "binary_join_element_wise",
    "binary_length": "binary_length",
    "coalesce": "coalesce",
    "equal": "equal",
    "filter": "filter",  # null in the mask: dropped
    "greater_equal": "greater_equal",
    "if_else": "if_else",
    "indices_nonzero": "indices_nonzero",
    "invert": "invert",
    "is_null": "is_null",  # NaN is not null
    "is_valid": "is_valid",
    "list_flatten": "list_flatten",  # one level
    "list_parent_indices": "list_parent_indices",
    "list_value_length": "list_value_length",
    "or_": "or",
    "subtract": "subtract",
    "string_is_ascii": "string_is_ascii",
    "sum": "sum",  # of no valid value: null (min_count 1, as pyarrow.compute.sum)
    "utf8_is_space": "utf8_is_space",
}


def _plain(kernel: str) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        return _compute.call_function(kernel, list(args))

    call.__name__ = call.__qualname__ = kernel
    return call


globals().update({name: _plain(kernel) for name, kernel in _PLAIN.items()})


def cast(arr: Any, target_type: pa.DataType) -> Any:
    """``arr.cast(target_type)``: a safe cast."""
    return _compute.call_function("cast", [arr], _compute.CastOptions.safe(target_type))


def fill_null(values: Any, fill_value: Any) -> Any:
    if not isinstance(fill_value, pa.Array | pa.ChunkedArray | pa.Scalar):
        fill_value = pa.scalar(fill_value, type=values.type)
    elif values.type != fill_value.type:
        fill_value = pa.scalar(fill_value.as_py(), type=values.type)
    return _compute.call_function("coalesce", [values, fill_value])


def match_substring_regex(strings: Any, pattern: str) -> Any:
    return _compute.call_function(
        "match_substring_regex", [strings], _compute.MatchSubstringOptions(pattern)
    )


def replace_substring_regex(strings: Any, pattern: str, replacement: str) -> Any:
    return _compute.call_function(
        "replace_substring_regex",
        [strings],
        _compute.ReplaceSubstringOptions(pattern, replacement),
    )


def take(data: Any, indices: Any) -> Any:
    return _compute.call_function("take", [data, indices], _compute.TakeOptions(boundscheck=True))


def struct_field(values: Any, indices: str) -> Any:
    return _compute.call_function("struct_field", [values], _compute.StructFieldOptions(indices))


def is_in(values: Any, value_set: Any) -> Any:
    return _compute.call_function("is_in", [values], _compute.SetLookupOptions(value_set))


def match_substring(strings: Any, pattern: str) -> Any:
    return _compute.call_function(
        "match_substring", [strings], _compute.MatchSubstringOptions(pattern)
    )


def replace_substring(
    strings: Any, pattern: str, replacement: str, max_replacements: int | None = None
) -> Any:
    return _compute.call_function(
        "replace_substring",
        [strings],
        _compute.ReplaceSubstringOptions(pattern, replacement, max_replacements=max_replacements),
    )


def split_pattern(strings: Any, pattern: str) -> Any:
    return _compute.call_function("split_pattern", [strings], _compute.SplitPatternOptions(pattern))


def list_slice(lists: Any, start: int, stop: int) -> Any:
    """Elements ``start:stop`` of each list as a fixed-size list, null where it is shorter."""
    options = _compute.ListSliceOptions(start, stop, return_fixed_size_list=True)
    return _compute.call_function("list_slice", [lists], options)


def list_element(lists: Any, index: int) -> Any:
    return _compute.call_function("list_element", [lists, pa.scalar(index, pa.int32())])


def max(values: Any) -> Any:
    return _compute.call_function("min_max", [values])["max"]


def __getattr__(name: str) -> Any:
    import pyarrow.compute

    return getattr(pyarrow.compute, name)
