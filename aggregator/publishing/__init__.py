"""Publishing: the output folder and what happens once feeds are rendered.

Owns atomic, change-only writes (`output`), which feeds and pages a build writes and
retires (`publish`), the one-writer lock (`lock`), where private files live (`layout`)
and WebSub hub pings (`websub`).
"""
