"""Build configuration for the optional C accelerator (everything else is in pyproject.toml).

``pipeimap.protocol._speedups`` speeds up the response lexers; it is optional: when it
cannot be compiled (no C compiler, no Python headers) pipeimap installs anyway and uses
the pure-Python lexers (``pipeimap.protocol.ACCELERATED`` tells which is in use).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pipeimap.protocol._speedups",
            sources=["pipeimap/protocol/_speedups.c"],
            optional=True,
        )
    ]
)
