"""A deterministic, realistic corpus of article files, for the build benchmark.

`generate(folder, n, seed=1)` writes `n` article files in the seed format (YAML front
matter between `---` lines, see README "Input: article files") under `folder`, in
`YYYY/MM/` subfolders with `.md` names. The same `n` and `seed` always give the same
bytes, whatever the number of processes used to write them.

What the files look like (like the seeds, and heavier than the real files of
`shared/corpus/`: about 5.5 KB, 90% of them between 4.2 and 7 KB, at most about 9 KB):

- a title and an excerpt from templates over a few hundred companies, products,
  places and made-up startup names (some non-ASCII, an occasional curly quote, HTML
  entity or mojibake as real feeds have), published over three years (2019-2021)
  in publication order, mostly on the minute, a few with a UTC offset;
- `webUrl`, often `originalUrl` too, and for about 40% `ampWebUrl` and usually
  `cdnAmpWebUrl` in the forms real sites use (`/amp/`, `?amp`, `.amp.html`,
  `?outputType=amp`, `?_amp=true`, an `amp.` host, the AMP cache);
- `type: article`, or for about 8% `type: video` with only an `originalUrl` on
  YouTube and a `featuredContent` iframe;
- `quality` 0-200 (mostly 40-120), `heat`, `published: true` for about 70%;
- `provider` {name, domain, sometimes images} from ~250 outlets, a few very common;
- `topics`: 1 to 4 of 60 names drawn with a Zipf-like skew ("AI" is in about 40%
  of the files, "Ética de la IA" in about 0.5%), among them
  "C++", "C#", ".NET", "Natural Language Processing" and non-ASCII names, and now
  and then a lower-case spelling of a name;
- 0 to 3 `images`, 3 to 7 `related` stubs (title, excerpt, date, URLs, provider,
  quality, images), a quarter of them pointing at stories in the corpus;
- a `secured` blob of about 830 base64 characters.

Duplicates, as a curated feed collects them: about 5% of the files are exact
duplicates of a recent story (same title, excerpt and date, the URL in an AMP or
tracked form, another file; quality and topics may differ) and about 3% are
syndicated near-duplicates (another outlet and URL, the title with a word added,
the same excerpt, published minutes to hours later). About 30% of the files have
CRLF line endings.

With `common` (`--common`), the titles' companies are the first 20 of its list (the best
known: Microsoft, Google, Amazon...), never a made-up one (the usual corpus names one of
its 52 companies in about half of its titles, a made-up startup in the others): titles
share many more words within days, as in a corpus on one subject (a product's news,
say), the case that makes near-duplicate detection consider the most candidates.
Everything else is drawn the same way.

Files are made in chunks of `CHUNK` consecutive files, each from its own seeded
random generator, so chunks are written in parallel (`processes`) and the output
does not depend on how many processes wrote it. Text is built with string
formatting, not a YAML dumper: 100,000 files take seconds.

Run it from the project root:

    python bench/corpus.py FOLDER N [--seed S] [--common] [--processes P]
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import os
import random
import re
import sys
import time
from bisect import bisect
from collections import deque
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from itertools import accumulate
from pathlib import Path

import yaml

#: files per independently seeded chunk (one unit of parallel work)
CHUNK = 1000
#: the corpus covers these three years, in publication order
START = datetime(2019, 1, 1, tzinfo=UTC)
SPAN = (datetime(2022, 1, 1, tzinfo=UTC) - START).total_seconds()
EXACT_DUPLICATES = 0.05
NEAR_DUPLICATES = 0.03
CRLF = 0.30
PUBLISHED = 0.70
VIDEOS = 0.08
#: related stubs that are other stories of the corpus
RELATED_IN_CORPUS = 0.25
#: recent stories a duplicate or a related stub may point at
_RECENT = 200

#: topic names, most common first; drawn with Zipf weights 1 / rank ** TOPIC_SKEW
TOPICS = [
    "AI", "Machine Learning", "Cloud Computing", "Cybersecurity",
    "Natural Language Processing", "Computer Vision", "Python", "JavaScript", "Open Source",
    "Robotics", "Data Science", "C#", "C++", "Azure", "AWS", "Deep Learning", "Kubernetes",
    "DevOps", "Startups", "Privacy", "Power Apps", "Rust", "Go", "Java", "Quantum Computing",
    "Blockchain", "Self-Driving Cars", "Semiconductors", "IoT", "5G", "TypeScript", ".NET",
    "Linux", "Databases", "Healthcare", "Fintech", "Chatbots", "Speech Recognition",
    "Edge Computing", "AR/VR", "Gaming", "Space", "Climate Tech", "E-commerce", "Low-Code",
    "WebAssembly", "Kotlin", "Swift", "F#", "C", "Reinforcement Learning", "Big Data",
    "Microservices", "Node.js", "Künstliche Intelligenz", "人工知能", "Réalité augmentée",
    "Ciberseguridad", "Машинное обучение", "Ética de la IA",
]  # fmt: skip
TOPIC_SKEW = 1.1
#: how many topics a file has: 1, 2, 3 or 4
_TOPIC_COUNTS = (0.40, 0.33, 0.19, 0.08)

_OUTLETS = [
    ("The Hill", "thehill.com"), ("Quartz", "qz.com"), ("The Next Web", "thenextweb.com"),
    ("Washington Post", "washingtonpost.com"), ("CNBC", "cnbc.com"), ("CNET", "cnet.com"),
    ("Reuters", "reuters.com"), ("The Verge", "theverge.com"), ("TechCrunch", "techcrunch.com"),
    ("Wired", "wired.com"), ("ZDNet", "zdnet.com"), ("Engadget", "engadget.com"),
    ("VentureBeat", "venturebeat.com"), ("Ars Technica", "arstechnica.com"), ("BBC", "bbc.co.uk"),
    ("The Register", "theregister.com"), ("Fox News", "foxnews.com"), ("Forbes", "forbes.com"),
    ("Bloomberg", "bloomberg.com"), ("The Guardian", "theguardian.com"),
    ("Government Technology", "govtech.com"), ("Washington Examiner", "washingtonexaminer.com"),
    ("Daily Mail", "dailymail.co.uk"), ("MassLive", "masslive.com"), ("WBUR", "wbur.org"),
    ("Crain's New York", "crainsnewyork.com"), ("Detroit News", "detroitnews.com"),
    ("The Baltimore Sun", "baltimoresun.com"), ("WAtoday", "watoday.com.au"),
    ("Ubergizmo", "ubergizmo.com"), ("Microsoft", "microsoft.com"), ("InfoWorld", "infoworld.com"),
    ("Heise Online", "heise.de"), ("Le Monde Informatique", "lemondeinformatique.fr"),
    ("Süddeutsche Zeitung", "sueddeutsche.de"), ("El País Tecnología", "elpais.com"),
    ("Nikkei Asia", "asia.nikkei.com"), ("MIT Technology Review", "technologyreview.com"),
    ("IEEE Spectrum", "spectrum.ieee.org"), ("InfoQ", "infoq.com"),
    ("The New Stack", "thenewstack.io"),
    ("Hacker Noon", "hackernoon.com"), ("Towards Data Science", "towardsdatascience.com"),
    ("Analytics India Magazine", "analyticsindiamag.com"), ("SiliconANGLE", "siliconangle.com"),
    ("Fierce Healthcare", "fiercehealthcare.com"), ("Business Insider", "businessinsider.com"),
    ("Fortune", "fortune.com"), ("Axios", "axios.com"), ("Protocol", "protocol.com"),
]  # fmt: skip
_CITIES = [
    "Boston", "Portland", "Austin", "Denver", "Chicago", "Seattle", "Atlanta", "Dallas",
    "Toronto", "Sydney", "Dublin", "London", "Berlin", "Paris", "Madrid", "Oslo", "Vienna",
    "Zürich", "São Paulo", "Montréal", "Kraków", "Malmö", "München", "Tokyo", "Seoul",
]  # fmt: skip
_PAPERS = ["Ledger", "Chronicle", "Tech Review", "Herald", "Wire", "Journal", "Daily", "Post"]
_SECTIONS = ["technology", "tech", "news", "business", "science", "innovation", "policy"]
_SIZES = [(1200, 630), (1200, 800), (800, 450), (1400, 787), (640, 320), (980, 551), (1280, 720)]
_CDNS = [
    "cdn0.tnwcdn.com/wp-content/uploads", "image.cnbcfm.com/api/v1/image",
    "media2.govtech.com/images", "cloudfront-us-east-1.images.arcpublishing.com/advancelocal",
    "i.dailymail.co.uk/1s", "static01.nyt.com/images", "s3-prod.example-cdn.com/styles/800x600",
]  # fmt: skip

_COMPANIES = [
    "Microsoft", "Google", "Amazon", "Apple", "Meta", "IBM", "Nvidia", "Intel", "Oracle",
    "Salesforce", "Adobe", "Tesla", "Samsung", "Sony", "Baidu", "Alibaba", "Tencent", "Huawei",
    "OpenAI", "DeepMind", "Siemens", "Bosch", "Philips", "Nokia", "Ericsson", "SAP", "Spotify",
    "Uber", "Airbnb", "Netflix", "Palantir", "Clearview AI", "Zoom", "Slack", "Dropbox", "Arm",
    "Qualcomm", "AMD", "Cisco", "VMware", "Red Hat", "GitHub", "GitLab", "Mozilla", "Shopify",
    "Stripe", "Twilio", "Snowflake", "Databricks", "Hugging Face", "Nestlé", "Société Générale",
]  # fmt: skip
_SYLLABLES_A = [
    "Zor", "Vex", "Lum", "Kai", "Nov", "Tri", "Ax", "Quin", "Bre", "Syn", "Or", "Hal",
    "Mira", "Tal", "Vel", "Pyr", "Cor", "Ny", "Ost", "Dra", "Fen", "Gal", "Iso", "Jun",
]  # fmt: skip
_SYLLABLES_B = [
    "ion", "ara", "etic", "ly", "ora", "ex", "ium", "oni", "ava", "eon", "ist", "ent",
    "ify", "ova", "ux", "ami", "ero", "ith", "yx", "adel",
]  # fmt: skip
#: the companies of titles in a `common` corpus: the first 20, the best known
_COMMON = _COMPANIES[:20]
#: what `--common` asks for (also the benchmarks' option: `build.corpus_options`)
COMMON_HELP = "titles that name only 20 well-known companies, never a made-up one"
_SUFFIXES = ["", "", "", " AI", " Labs", " Robotics", " Health", " Systems", " Data"]
_VERBS = [
    ("launches", "launch"), ("unveils", "unveil"), ("delays", "delay"), ("expands", "expand"),
    ("scraps", "scrap"), ("tests", "test"), ("opens", "open"), ("pauses", "pause"),
    ("upgrades", "upgrade"), ("sells", "sell"), ("acquires", "acquire"), ("bans", "ban"),
    ("open-sources", "open-source"), ("rolls out", "roll out"), ("previews", "preview"),
    ("doubles down on", "double down on"), ("rethinks", "rethink"), ("retires", "retire"),
]  # fmt: skip
_THINGS = [
    "facial recognition software", "AI chatbot", "self-driving taxi service", "cloud platform",
    "quantum computing lab", "data centre", "speech recognition tool", "chip factory",
    "translation app", "robot delivery fleet", "medical imaging model", "fraud detection system",
    "smart glasses", "coding assistant", "satellite internet service", "battery plant",
    "language model", "edge AI chip", "low-code platform", "password manager", "C++ compiler",
    "C# tooling", "Python runtime", "Kubernetes service", "recommendation engine",
    "privacy dashboard", "drone program", "digital twin", "open dataset", "AR headset",
    "vector database", "malware scanner", "content moderation system", "voice assistant",
    "supercomputer", "5G network", "payments API", "warehouse robots", "telehealth app",
]  # fmt: skip
_CONTEXTS = [
    "amid privacy concerns", "for hospitals", "after regulatory review", "in Europe",
    "for small businesses", "despite chip shortage", "to rival competitors", "for schools",
    "after customer complaints", "in a push into healthcare", "ahead of annual conference",
    "as lawmakers weigh a ban", "for developers", "in Asia", "after a security breach",
    "to cut costs", "under pressure from investors", "for the public sector", "in Latin America",
    "as demand surges", "after a year of testing", "with an eye on the cloud",
]  # fmt: skip
_AUDIENCES = [
    "developers", "hospitals", "police departments", "retailers", "banks", "farmers",
    "universities", "city councils", "startups", "insurers", "newsrooms", "airlines",
    "carmakers", "regulators", "game studios", "schools", "civil rights groups", "researchers",
]  # fmt: skip
_GOALS = [
    "cut emissions", "spot fraud", "diagnose disease earlier", "write better code",
    "predict demand", "protect privacy", "fight misinformation", "speed up drug discovery",
    "translate in real time", "detect wildfires", "automate paperwork", "secure elections",
]  # fmt: skip
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_FILLER = [
    "The company did not disclose financial terms.",
    "Critics say the technology is being deployed faster than rules can keep up.",
    "Analysts expect the market to consolidate over the next two years.",
    "The move follows months of speculation.",
    "Early customers reported mixed results.",
    "A spokesperson declined to comment on the timeline.",
    "The project is still in its early stages, according to people familiar with it.",
    "Regulators have asked for more information.",
    "It is the latest sign of a broader shift in the industry.",
    "Employees were told about the change in an internal memo.",
]  # fmt: skip
_ADDED_WORDS = ["reportedly", "now", "officially", "quietly", "finally", "also", "formally"]
_IFRAME = (
    '<iframe width="800" height="500" frameborder="0" src="https://www.youtube.com/embed/{}" '
    'allow="accelerometer; autoplay; encrypted-media; gyroscope; picture-in-picture" '
    "allowfullscreen></iframe>"
)
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def _zipf(count: int, skew: float) -> list[float]:
    return list(accumulate(1.0 / rank**skew for rank in range(1, count + 1)))


def _plain_or_quoted(value: str) -> str:
    """A YAML scalar for `value`: plain when YAML reads it back as the same string."""
    try:
        if yaml.safe_load(value) == value and value == value.strip():
            return value
    except yaml.YAMLError:
        pass
    return _q(value)


def _q(value: str) -> str:
    """A YAML double-quoted string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _providers() -> list[tuple[str, str, str, str]]:
    """(rendered name, domain, style, provider block) for ~250 outlets, common first."""
    outlets = list(_OUTLETS)
    for city in _CITIES:
        for paper in _PAPERS:
            base = (city + paper).lower()
            ascii_base = base.encode("ascii", "ignore").decode()
            domain = re.sub(r"[^a-z]", "", ascii_base) + (".com" if len(outlets) % 3 else ".news")
            outlets.append((f"The {city} {paper}", domain))
    rng = random.Random(7)
    result = []
    for number, (name, domain) in enumerate(outlets):
        rendered = _plain_or_quoted(name)
        block = f"provider:\n  name: {rendered}\n  domain: {domain}"
        if rng.random() < 0.5:
            block += (
                "\n  images:\n    - url: "
                f'"https://smartableai.github.io/artificial-intelligence/assets/images/'
                f'organizations/{domain}-50x50.jpg"\n      width: 50\n      height: 50'
            )
        result.append((rendered, domain, "0123"[number % 4], block))
    return result


_PROVIDERS = _providers()
_PROVIDER_WEIGHTS = _zipf(len(_PROVIDERS), 0.9)
_TOPIC_WEIGHTS = _zipf(len(TOPICS), TOPIC_SKEW)
_TOPIC_LINES = [f"  - {_plain_or_quoted(t)}" for t in TOPICS]
_TOPIC_VARIANTS = [
    f"  - {_plain_or_quoted(t.lower())}" if t.lower() != t else f"  - {_plain_or_quoted(t)}"
    for t in TOPICS
]
_TOPIC_COUNT_WEIGHTS = list(accumulate(_TOPIC_COUNTS))
#: how many related stubs a file has: 0 to 6
_RELATED_COUNTS = list(accumulate((0, 0, 0, 0.22, 0.3, 0.26, 0.14, 0.08)))


class _Story:
    """What a duplicate or a related stub needs of an earlier story."""

    __slots__ = (
        "amp",
        "cdn",
        "excerpt",
        "images",
        "kind",
        "link_key",
        "provider",
        "related",
        "slug",
        "stub",
        "title",
        "topics",
        "url",
        "video",
        "when",
        "when_text",
    )

    def __init__(self) -> None:
        self.title = ""
        self.excerpt: str | None = None
        self.when = 0.0
        self.when_text = ""
        self.provider = 0
        self.url = ""
        self.link_key = "webUrl"
        self.amp: str | None = None
        self.cdn: str | None = None
        self.kind = "article"
        self.video = ""
        self.slug = ""
        self.images = ""
        self.topics: list[int] = []
        self.related = ""
        self.stub = ""


class _Chunk:
    """The files of one chunk, from their own random generator."""

    def __init__(self, seed: int, chunk: int, n: int, common: bool = False) -> None:
        self.rng = random.Random(seed * 1_000_003 + chunk)
        self.chunk = chunk
        self.n = n
        self.common = common
        self.recent: deque[_Story] = deque(maxlen=_RECENT)

    # -- text -------------------------------------------------------------------------

    def _org(self) -> str:
        rng = self.rng
        if self.common:
            return rng.choice(_COMMON)
        if rng.random() < 0.55:
            return rng.choice(_COMPANIES)
        return rng.choice(_SYLLABLES_A) + rng.choice(_SYLLABLES_B) + rng.choice(_SUFFIXES)

    def _title(self, topic: str) -> str:
        rng = self.rng
        org, thing = self._org(), rng.choice(_THINGS)
        verb = rng.choice(_VERBS)[0]
        form = rng.randrange(14)
        if form == 0:
            return f"{org} {verb} {thing} {rng.choice(_CONTEXTS)}"
        if form == 1:
            return f"{org} {verb} new {thing} for {rng.choice(_AUDIENCES)}"
        if form == 2:
            return f"{org} raises ${rng.randrange(5, 900)} million to build {thing}"
        if form == 3:
            return f"How {rng.choice(_AUDIENCES)} are using {thing} to {rng.choice(_GOALS)}"
        if form == 4:
            return f"Why {org} is betting big on {thing}"
        if form == 5:
            return f"{rng.choice(_CITIES)} {verb} {thing} {rng.choice(_CONTEXTS)}"
        if form == 6:
            return f"{org} and {self._org()} team up on {thing}"
        if form == 7:
            return f"{rng.randrange(3, 12)} things to know about {org}\u2019s {thing}"
        if form == 8:
            return f"Researchers in {rng.choice(_CITIES)} show {thing} can {rng.choice(_GOALS)}"
        if form == 9:
            return f"{topic} weekly: {org} {verb} {thing} in {rng.choice(_CITIES)}"
        if form == 10:
            return f'Inside {org}\'s plan to {rng.choice(_GOALS)} with "{thing}"'
        if form == 11:
            return f"{org} CEO says the {thing} will help {rng.choice(_AUDIENCES)}"
        if form == 12:
            return f"{org} {verb} {thing}: what it means for {rng.choice(_AUDIENCES)}"
        return f"{org} {verb} {thing} \u2014 {rng.choice(_CONTEXTS)} | {topic}"

    def _excerpt(self, title: str) -> str | None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.02:
            return None
        org, thing = self._org(), rng.choice(_THINGS)
        verb = rng.choice(_VERBS)[1]
        parts = [
            f"{org} said on {rng.choice(_WEEKDAYS)} it would {verb} its {thing} "
            f"{rng.choice(_CONTEXTS)}, a step {rng.choice(_AUDIENCES)} in "
            f"{rng.choice(_CITIES)} had pushed for."
        ]
        if rng.random() < 0.6:
            parts.append(
                f"The {rng.choice(_THINGS)}, built with {self._org()}, is meant to "
                f"{rng.choice(_GOALS)} for about {rng.randrange(2, 400)},000 "
                f"{rng.choice(_AUDIENCES)}."
            )
        if rng.random() < 0.5:
            parts.append(rng.choice(_FILLER))
        text = " ".join(parts)
        if roll < 0.03:
            text = text.replace(" its ", " it\u00e2\u20ac\u2122s own ", 1)  # mojibake
        elif roll < 0.05:
            text = text.replace(" with ", " with &amp; for ", 1)  # an HTML entity
        elif roll < 0.10:
            text = text.replace("'", "\u2019")
        return text

    def _when(self, when: float) -> str:
        rng = self.rng
        moment = START + timedelta(seconds=int(when))
        if rng.random() < 0.9:
            moment = moment.replace(second=0)
        if rng.random() < 0.03:
            hours = rng.choice((2, 5, -4, -7))
            local = moment + timedelta(hours=hours)
            sign = "+" if hours >= 0 else "-"
            return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{abs(hours):02}:00"
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _urls(self, story: _Story, provider: int) -> None:
        """webUrl (and for some stories the AMP forms) at `provider`."""
        rng = self.rng
        _, domain, style, _ = _PROVIDERS[provider]
        host = domain if domain.count(".") >= 2 else "www." + domain
        slug = story.slug
        day = story.when_text[:10].replace("-", "/")
        number = rng.randrange(100_000, 9_999_999)
        if style == "0":
            path = f"/{rng.choice(_SECTIONS)}/{day}/{slug}/"
            amp = path + "amp/"
        elif style == "1":
            path = f"/{rng.choice(_SECTIONS)}/{number}-{slug}"
            amp = path + rng.choice(("?amp", "?_amp=true"))
        elif style == "2":
            path = f"/{day[:7]}/{slug}.html"
            amp = path[:-5] + ".amp.html"
        else:
            path = f"/news/{slug}-{number}"
            amp = path + "?outputType=amp"
        story.url = f"https://{host}{path}"
        story.amp = story.cdn = None
        if rng.random() < 0.4:
            if rng.random() < 0.15 and host.startswith("www."):
                story.amp = f"https://amp.{domain}{path}"
                amp_host = "amp." + domain
                amp = path
            else:
                story.amp = f"https://{host}{amp}"
                amp_host = host
            if rng.random() < 0.8:
                cache = amp_host.replace("-", "--").replace(".", "-")
                story.cdn = f"https://{cache}.cdn.ampproject.org/c/s/{amp_host}{amp}"

    def _images(self, title: str, count: int, indent: str) -> str:
        rng = self.rng
        lines = [f"{indent}images:"]
        for _ in range(count):
            width, height = rng.choice(_SIZES)
            lines.append(
                f'{indent}  - url: "https://{rng.choice(_CDNS)}/{START.year + rng.randrange(3)}/'
                f'{rng.getrandbits(64):016x}.jpg"'
            )
            lines.append(f"{indent}    width: {width}\n{indent}    height: {height}")
            lines.append(f"{indent}    isCached: true")
            if rng.random() < 0.4:
                lines.append(f"{indent}    title: {_q(title)}")
        return "\n".join(lines)

    def _quality(self) -> int:
        return min(200, max(0, int(self.rng.gauss(80, 38))))

    def _stub(self, story: _Story, quality: int) -> str:
        """A related stub for `story`, indented for the `related:` list."""
        lines = [f"  - title: {_q(story.title)}"]
        if story.excerpt is not None:
            lines.append(f"    excerpt: {_q(story.excerpt)}")
        lines.append(f"    publishedDateTime: {story.when_text}")
        lines.append(f'    {story.link_key}: "{story.url}"')
        if story.amp:
            lines.append(f'    ampWebUrl: "{story.amp}"')
        if story.cdn:
            lines.append(f'    cdnAmpWebUrl: "{story.cdn}"')
        name, domain, _, _ = _PROVIDERS[story.provider]
        lines.append(f"    type: {story.kind}")
        lines.append(f"    provider:\n      name: {name}\n      domain: {domain}")
        lines.append(f"    quality: {quality}")
        if self.rng.random() < 0.7:
            lines.append(self._images(story.title, 1, "    "))
        return "\n".join(lines)

    def _external_stub(self, when: float) -> str:
        """A related story of another outlet, not in the corpus."""
        rng = self.rng
        story = _Story()
        story.title = self._title(TOPICS[bisect(_TOPIC_WEIGHTS, rng.random() * _TOPIC_WEIGHTS[-1])])
        story.excerpt = self._excerpt(story.title)
        story.when = when - rng.random() * 3 * 86400
        story.when_text = self._when(story.when)
        story.provider = bisect(_PROVIDER_WEIGHTS, rng.random() * _PROVIDER_WEIGHTS[-1])
        story.slug = _slug(story.title)
        self._urls(story, story.provider)
        return self._stub(story, rng.randrange(0, 140))

    def _related(self, when: float) -> str:
        rng = self.rng
        count = bisect(_RELATED_COUNTS, rng.random() * _RELATED_COUNTS[-1])
        if count == 0:
            return ""
        stubs = []
        for _ in range(count):
            if self.recent and rng.random() < RELATED_IN_CORPUS:
                stubs.append(self.recent[rng.randrange(len(self.recent))].stub)
            else:
                stubs.append(self._external_stub(when))
        return "related:\n" + "\n".join(stubs)

    def _topics(self) -> list[int]:
        rng = self.rng
        wanted = bisect(_TOPIC_COUNT_WEIGHTS, rng.random() * _TOPIC_COUNT_WEIGHTS[-1]) + 1
        chosen: list[int] = []
        total = _TOPIC_WEIGHTS[-1]
        while len(chosen) < wanted:
            index = bisect(_TOPIC_WEIGHTS, rng.random() * total)
            if index not in chosen:
                chosen.append(index)
        return chosen

    # -- stories ----------------------------------------------------------------------

    def _original(self, when: float) -> _Story:
        rng = self.rng
        story = _Story()
        story.topics = self._topics()
        story.title = self._title(TOPICS[story.topics[0]])
        story.excerpt = self._excerpt(story.title)
        story.when = when
        story.when_text = self._when(when)
        story.provider = bisect(_PROVIDER_WEIGHTS, rng.random() * _PROVIDER_WEIGHTS[-1])
        story.slug = _slug(story.title)
        if rng.random() < VIDEOS:
            self._video(story)
        else:
            self._urls(story, story.provider)
            count = rng.choice((0, 1, 1, 1, 1, 2, 3))
            story.images = self._images(story.title, count, "") if count else ""
        story.related = self._related(when)
        story.stub = self._stub(story, self._quality())
        return story

    def _video(self, story: _Story) -> None:
        rng = self.rng
        video = "".join(rng.choice(_ID_CHARS) for _ in range(11))
        story.kind = "video"
        story.link_key = "originalUrl"
        story.url = f"https://{rng.choice(('youtube.com', 'www.youtube.com'))}/watch?v={video}"
        story.amp = story.cdn = None
        story.video = video
        story.images = (
            f'images:\n  - url: "https://i.ytimg.com/vi/{video}/maxresdefault.jpg"\n'
            "    width: 1280\n    height: 720\n    isCached: true"
        )

    def _exact_copy(self, source: _Story) -> _Story:
        """The same story under a tracked or AMP form of its URL, in another file."""
        rng = self.rng
        story = _Story()
        for name in _Story.__slots__:
            setattr(story, name, getattr(source, name))
        story.topics = list(source.topics)
        if rng.random() < 0.3:
            extra = bisect(_TOPIC_WEIGHTS, rng.random() * _TOPIC_WEIGHTS[-1])
            if extra not in story.topics:
                story.topics.append(extra)
        url = source.url
        roll = rng.random()
        if roll < 0.4 or story.kind == "video":
            join = "&" if "?" in url else "?"
            medium = rng.choice(("twitter", "facebook", "newsletter", "rss"))
            story.url = f"{url}{join}utm_source={medium}&utm_medium=social&utm_campaign=feed"
        elif roll < 0.55:
            join = "&" if "?" in url else "?"
            story.url = f"{url}{join}fbclid=IwAR{rng.getrandbits(96):024x}"
        elif source.cdn:
            story.url = source.cdn
        elif source.amp:
            story.url = source.amp
        else:
            story.url = url.replace("https://", "http://", 1) + "#comments"
        story.amp = story.cdn = None
        return story

    def _syndicated(self, source: _Story) -> _Story:
        """Another outlet's copy: a word added to the title, the same excerpt."""
        rng = self.rng
        story = _Story()
        words = source.title.split(" ")
        at = rng.randrange(1, len(words))
        words.insert(at, rng.choice(_ADDED_WORDS))
        story.title = " ".join(words)
        story.excerpt = source.excerpt
        story.when = source.when + rng.randrange(300, 18 * 3600)
        story.when_text = self._when(story.when)
        story.provider = rng.randrange(len(_PROVIDERS))
        if story.provider == source.provider:
            story.provider = (story.provider + 1) % len(_PROVIDERS)
        story.topics = list(source.topics)
        rng.shuffle(story.topics)
        story.slug = _slug(story.title)
        self._urls(story, story.provider)
        count = rng.choice((0, 1, 1, 2))
        story.images = self._images(story.title, count, "") if count else ""
        story.related = self._related(story.when)
        story.stub = self._stub(story, self._quality())
        return story

    # -- files ------------------------------------------------------------------------

    def _text(self, story: _Story) -> str:
        rng = self.rng
        lines = ["---", "category: news", f"title: {_q(story.title)}"]
        if story.excerpt is not None:
            lines.append(f"excerpt: {_q(story.excerpt)}")
        lines.append(f"publishedDateTime: {story.when_text}")
        if story.kind == "video":
            lines.append(f'originalUrl: "{story.url}"')
        else:
            if rng.random() < 0.4:
                lines.append(f'originalUrl: "{story.url}"')
            lines.append(f'webUrl: "{story.url}"')
            if story.amp:
                lines.append(f'ampWebUrl: "{story.amp}"')
            if story.cdn:
                lines.append(f'cdnAmpWebUrl: "{story.cdn}"')
        quality = self._quality()
        heat = -1 if rng.random() < 0.5 else quality + rng.randrange(-20, 60)
        published = "true" if rng.random() < PUBLISHED else "false"
        lines.append(f"type: {story.kind}\nquality: {quality}\nheat: {heat}")
        lines.append(f"published: {published}\n")
        if story.kind == "video":
            lines.append(f"featuredContent: {_q(_IFRAME.format(story.video))}\n")
        lines.append(_PROVIDERS[story.provider][3] + "\n")
        lines.append("topics:")
        for index in story.topics:
            variant = rng.random() < 0.02
            lines.append(_TOPIC_VARIANTS[index] if variant else _TOPIC_LINES[index])
        lines.append("")
        if story.images:
            lines.append(story.images + "\n")
        if story.related:
            lines.append(story.related + "\n")
        secret = base64.b64encode(rng.randbytes(rng.randrange(560, 640))).decode()
        tail = base64.b64encode(rng.randbytes(16)).decode()
        lines.append(f'secured: "{secret};{tail}"\n---\n')
        text = "\n".join(lines)
        if rng.random() < CRLF:
            text = text.replace("\n", "\r\n")
        return text

    def files(self, first: int, last: int) -> list[tuple[str, bytes]]:
        """(relative path, bytes) of files `first` to `last - 1`."""
        rng = self.rng
        out = []
        for index in range(first, last):
            when = (index + rng.random()) * SPAN / self.n
            roll = rng.random()
            if self.recent and roll < EXACT_DUPLICATES:
                story = self._exact_copy(self.recent[rng.randrange(len(self.recent))])
            elif self.recent and roll < EXACT_DUPLICATES + NEAR_DUPLICATES:
                story = self._syndicated(self.recent[rng.randrange(len(self.recent))])
            else:
                story = self._original(when)
                self.recent.append(story)
            day = story.when_text
            name = f"{day[:4]}/{day[5:7]}/{day[:10]}-{story.slug[:60].rstrip('-')}-{index:x}.md"
            out.append((name, self._text(story).encode("utf-8")))
        return out


def _slug(title: str) -> str:
    return _NOT_SLUG.sub("-", title.lower()).strip("-") or "story"


def _write_chunk(job: tuple[str, int, int, int, bool]) -> int:
    folder, n, seed, chunk, common = job
    first, last = chunk * CHUNK, min(n, (chunk + 1) * CHUNK)
    made: set[str] = set()
    size = 0
    for name, data in _Chunk(seed, chunk, n, common).files(first, last):
        parent = name[:7]
        if parent not in made:
            os.makedirs(os.path.join(folder, parent), exist_ok=True)
            made.add(parent)
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(data)
        size += len(data)
    return size


def generate(
    folder: str | Path,
    n: int,
    seed: int = 1,
    *,
    processes: int | None = None,
    common: bool = False,
) -> None:
    """Write `n` article files under `folder` (created if needed), deterministically;
    with `common`, titles of common words only (see the module's docstring).

    `processes`: how many processes write chunks in parallel (default: one per CPU
    for more than one chunk); the files are the same for any value.
    """
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    os.makedirs(folder, exist_ok=True)
    jobs = [(os.fspath(folder), n, seed, chunk, common) for chunk in range(-(-n // CHUNK))]
    workers = min(len(jobs), processes or os.cpu_count() or 1)
    if workers <= 1:
        for job in jobs:
            _write_chunk(job)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for _ in pool.imap_unordered(_write_chunk, jobs):
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a deterministic, realistic corpus of N article files to FOLDER."
    )
    parser.add_argument("folder", type=Path, metavar="FOLDER")
    parser.add_argument("n", type=int, metavar="N")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--processes", type=int, default=None, help="default: one per CPU")
    parser.add_argument("--common", action="store_true", help=COMMON_HELP)
    args = parser.parse_args(argv)
    if args.n < 0:
        parser.error("N must be 0 or more")
    started = time.perf_counter()
    generate(args.folder, args.n, args.seed, processes=args.processes, common=args.common)
    elapsed = time.perf_counter() - started
    size = sum(entry.stat().st_size for entry in args.folder.rglob("*.md") if entry.is_file())
    print(
        f"wrote {args.n} files ({size / 1e6:.1f} MB) to {args.folder} in {elapsed:.1f} s "
        f"(seed {args.seed})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
