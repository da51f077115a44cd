"""The engine: the stages wired into one build.

sources -> load -> dedupe -> topic settings -> filters -> links -> render -> publish.
`pipeline.build` runs a build (and `pipeline.check_links` the link step alone):
`run.Run` runs the stages over what changed since the last build (a cold build: over
every file, from an empty state); `tables` keeps what a build derived for the next
and finds what changed; `stages` holds what `build` and `check-links` share
(`judge`: the filters and the link step, and the one cancel point); `zonerows` keeps
the periods a build's near-duplicate zones read for the next build in the same process
(a daemon's).
"""
