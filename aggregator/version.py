"""The package's version, in a module of its own so that the modules that key their
caches on it need not import the public face (`aggregator/__init__.py`), which imports
them. It is also the package's version in its metadata (`pyproject.toml` reads it)."""

__version__ = "0.1.0"

#: what the feeds and pages are rendered as, within a version: bump it when the same
#: entries and settings render to other bytes (a fix between releases), so that a build
#: renders every feed and page again rather than keep what the last build rendered
RENDERING = "2"
