"""State: what one build leaves for the next, in the state store.

Owns what every stage may ask of the state (`interface`: the `StateStore` Protocol,
and `open_store`, which picks the backend), the two backends (`store`: a SQLite
file, the default; `pgstore`: a PostgreSQL database), where the state lives
(`location`: a path or a URL, shown without its password), the one codec for stored
rows (`codec`: articles of the parse cache, link results) and the last build's
report and output record (`lastbuild`), which lets a build with unchanged inputs
repeat itself.
"""
