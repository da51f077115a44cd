"""The application: the `aggregator` command, the daemon and the HTTP server.

Owns the CLI (`cli`: parses options, calls the library, maps errors to exit codes),
the daemon (`daemon`: APScheduler, signals), serving the feeds (`server`, with the
per-client rules of `connections` and `taskgate`), logging (`logs`) and the `topics`
command's overview (`overview`).
"""
