"""The engine: the stages wired into one build.

sources -> load -> dedupe -> topic settings -> filters -> links -> render -> publish.
`pipeline.build` runs a build (and `pipeline.check_links` the link step alone);
`incremental` keeps what a build derived and updates it for the inputs that changed;
`stages` holds what both kinds of build run the same way (`judge`: the filters and
the link step, and the one cancel point).
"""
