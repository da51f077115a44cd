"""The engine: the stages wired into one build.

sources -> load -> dedupe -> topic settings -> filters -> links -> render -> publish.
`pipeline.build` runs a build; `incremental` keeps what a build derived and updates
it for the inputs that changed.
"""
