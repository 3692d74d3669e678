"""Fixtures for the report tests; the helpers live in report_support.py."""

from .report_support import gate_setup

__all__ = ["gate_setup"]
