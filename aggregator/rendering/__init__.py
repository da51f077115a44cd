"""Rendering: feeds and pages to bytes. The only code that imports feedgen.

Owns RSS 2.0 and Atom 1.0 (`feeds`), JSON Feed 1.1 (`jsonfeed`), the index page and
OPML (`pages`), the HTML build report (`reportpage`), topic file names (`slugs`) and
skipping the render of a feed whose entries did not change (`rendercache`). Same input,
same bytes.
"""
