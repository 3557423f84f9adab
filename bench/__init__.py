"""Benchmarks for pipeimap (run with ``nox -s bench``; never part of the test suite).

This is a package only so that tests can import the deterministic corpus
generators as ``bench._corpus_gen``.
"""
