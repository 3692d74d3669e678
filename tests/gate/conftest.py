"""Fixtures for gate tests; the helpers live in gate_support.py."""

from gate_support import golden_dir, servers, tiny_model_dir

__all__ = ["golden_dir", "servers", "tiny_model_dir"]
