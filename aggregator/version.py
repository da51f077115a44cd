"""The package's version, in a module of its own so that the modules that key their
caches on it need not import the public face (`aggregator/__init__.py`), which imports
them. It is also the package's version in its metadata (`pyproject.toml` reads it)."""

__version__ = "0.1.0"
