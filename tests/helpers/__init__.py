"""Reusable helpers for tests: real binaries and images the tests build for themselves."""
