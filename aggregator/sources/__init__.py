"""Sources: finding article files and turning each into an `Article` or a one-line problem.

Owns reading files (`loader`), YAML parsing within limits (`yamlload`, `yamltext`),
cleaning untrusted text (`text`), the parse cache (`parsecache`) and the `validate`
command's check. Nothing here decides what is published.
"""
