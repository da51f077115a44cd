"""Links: the only code that talks HTTP to other sites.

Owns the address rules (`netguard`: never a private address, resolver doubt), the
checker (`linkcheck`: per-host politeness, one request per URL per TTL), what an
answer means (`linkpolicy`: fresh, dead, unsafe), the build's link step
(`articles`: which URLs of which articles, and what a verdict does to them), feed
documents fetched through the same scheduler (`fetch`: bodies within size and time
limits, how long one stays fresh) and the HTTP session seam (`http`).
"""
