"""Stories: which articles are one story, which copy survives, and which feeds it goes in.

Owns URL canonicalisation (`urls`), exact and near-duplicate detection (`dedupe`,
`similar`, with pairs kept between builds in `paircache`), what makes two topic names
one topic (`topics`), topic aliases and skips (`aliases`) and the publish filters
(`filters`). Pure decisions over records; the only I/O is the pair cache in the
state store.
"""
