"""Loading model folders with transformers, peft and safetensors.

What those libraries raise on a folder's files (weights cut short or with a garbage
header, an unknown ``model_type``, a ``tokenizer.json`` that is not one, weights whose
shapes do not match ``config.json``) is a problem with the user's files, not a bug in
curagate: :func:`loading` turns it into an :class:`~curagate.errors.InputError` naming
the folder (exit 2), where it reached the CLI as a KeyError or SafetensorError (exit 3).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator

from curagate.errors import CuragateError, InputError

# What the loaders raise on bad files; safetensors' SafetensorError (a plain Exception
# subclass) is matched by name, so this module imports none of them.
_LOAD_ERRORS = (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError)
_LOAD_ERROR_NAMES = frozenset({"SafetensorError", "HeaderTooLarge"})


# Deprecation warnings that the libraries raise about their own calls, which a user of
# curagate can do nothing about: peft and trl read transformers 5's deprecated
# `is_gradient_checkpointing` when they wrap the model (a FutureWarning on every run).
_LIBRARY_DEPRECATIONS = (r"`is_gradient_checkpointing` is deprecated",)


@contextlib.contextmanager
def library_deprecations_quiet() -> Iterator[None]:
    """Run without :data:`_LIBRARY_DEPRECATIONS` (every other warning as the caller's
    filters say): the trainer's set-up and run, every :func:`loading`."""
    with warnings.catch_warnings():
        for message in _LIBRARY_DEPRECATIONS:
            warnings.filterwarnings("ignore", message=message, category=FutureWarning)
        yield


@contextlib.contextmanager
def loading(folder: str | os.PathLike[str], what: str = "the model") -> Iterator[None]:
    """Run a ``from_pretrained`` (or several) on ``folder``; a failure caused by its files
    is an InputError naming the folder and the library's own words. Under --quiet, or off
    a terminal, the libraries draw no bars either (gate and export wrote "Loading weights"
    into CI logs)."""
    from curagate.progress import enabled

    if not enabled():
        no_library_bars()
    try:
        with library_deprecations_quiet():
            yield
    except CuragateError:
        raise
    except Exception as e:
        if not (isinstance(e, _LOAD_ERRORS) or type(e).__name__ in _LOAD_ERROR_NAMES):
            raise
        words = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise InputError(
            f"{os.fspath(folder)}: cannot load {what} ({type(e).__name__}: {words[:300]}); "
            "check its files (weights, config.json, tokenizer files) or export it again"
        ) from None


def no_library_bars() -> None:
    """Turn off transformers' and the Hub's progress bars (a weights load draws one)."""
    from huggingface_hub.utils import disable_progress_bars  # type: ignore[attr-defined]
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    disable_progress_bars()
