"""Sources: finding article files and turning each into an `Article` or a one-line problem.

Owns the one plan every command runs (`inputs`: which files a run reads, under which
limits, and what each became), reading files (`loader`), YAML parsing within limits
(`yamlload`, `yamltext`; `fastyaml` takes what yaml-rs cannot read differently from
PyYAML), cleaning untrusted text (`text`; `badness` runs ftfy's mojibake test only where
it can match; `patterns` reads what a regular expression can match from its parsed form,
for `badness` and `yamlload`), the parse cache (`parsecache`; its rows are
encoded by `state.codec`), remote feeds kept as entry files (`remote`, `entries`), the
`add-feed` command's search for a page's feed (`discover`) and the `validate`
command's check (`validate`). Nothing here decides what is published.
"""
