"""State: what one build leaves for the next, in the state store.

Owns the store (`store`: SQLite by default) and the last build's report and output
record (`lastbuild`), which lets a build with unchanged inputs repeat itself.
"""
