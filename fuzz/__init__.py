"""Long-running fuzzers for the sans-IO core (``nox -s fuzz``; see ``docs/fuzzing.md``).

:mod:`fuzz.targets` holds the targets and their oracles (also replayed by
``tests/fuzz/test_fuzz_regressions.py``), :mod:`fuzz.seeds` the seed corpus,
:mod:`fuzz.mutator` the built-in mutation engine and ``fuzz/run.py`` the runner.
"""
