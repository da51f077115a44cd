"""Sources: finding article files and turning each into an `Article` or a one-line problem.

Owns the one plan every command runs (`inputs`: which files a run reads, under which
limits, and what each became), reading files (`loader`), YAML parsing within limits
(`yamlload`, `yamltext`), cleaning untrusted text (`text`), the parse cache
(`parsecache`; its rows are encoded by `state.codec`) and the `validate` command's
check (`validate`). Nothing here decides what is published.
"""
