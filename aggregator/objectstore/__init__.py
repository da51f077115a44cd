"""Object storage (S3 and compatible, GCS, Azure, any fsspec protocol) as a place of
article files and as the place feeds are published to, around an engine that works on
local folders: a remote source is mirrored into a local folder before a run reads it
(`mirror`), and the output folder is uploaded after a build (`upload`). `stores` names
the URLs and opens their filesystems; nothing else here imports fsspec."""
