"""Deduplication measured on real headlines: syndicated copies and look-alike announcements.

Built from real titles and excerpts: the project's `seeds/` (each seed and its related
coverage stubs: real headlines of one event by many outlets) and, when present, the
power-apps corpus of the shared folder (`--corpus`, read in place, never copied). For
every real article ("original") it writes, in a temporary folder:

- syndicated copies: another outlet, another URL, published minutes to hours later, the
  title edited one way outlets edit it (`COPY_KINDS`: cut short with an ellipsis, title
  case, upper case, curly quotes, a respelling, the subtitle dropped, an outlet prefix,
  an outlet suffix) or two ways at once, and the excerpt the same, lightly edited or cut;
- look-alike announcements: the same title with one distinguishing word swapped
  (`LOOKALIKE_KINDS`: product family, release stage, month, version, another number,
  platform), each with its own excerpt (that of another real article), in the same days.

Each kind is built and deduplicated on its own, beside all the originals, through the
real loader and `dedupe.find_stories` (the build's dedupe, default settings), so one
copy found cannot carry another along; then everything together, for precision. It
prints, per kind, how many copies were found with their original (recall) and how
many look-alikes were merged with theirs (false merges). The same inputs and `--seed`
always give the same figures.

Run it from the project root:

    python bench/dedupe_real.py [--corpus ../shared/corpus/power-apps] [--seed 1]
"""

from __future__ import annotations

import argparse
import html
import itertools
import random
import re
import sys
import tempfile
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from aggregator.sources.loader import find_files
from aggregator.sources.loader import load_all
from aggregator.stories.dedupe import find_stories
from aggregator.stories.similar import title_words

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
#: the power-apps corpus, where the shared folder sits beside the project
CORPUS = ROOT.parent / "shared" / "corpus" / "power-apps"

#: targets of issue 21
MIN_COPY_RECALL = 0.98
MAX_LOOKALIKE_MERGED = 0.02

OUTLETS = [
    ("Reuters", "reuters.com"), ("The Verge", "theverge.com"), ("ZDNet", "zdnet.com"),
    ("TechCrunch", "techcrunch.com"), ("Yahoo News", "news.yahoo.com"), ("MSN", "msn.com"),
    ("Business Insider", "businessinsider.com"), ("The Register", "theregister.com"),
    ("Neowin", "neowin.net"), ("VentureBeat", "venturebeat.com"), ("AP", "apnews.com"),
]  # fmt: skip
PREFIXES = [
    "Exclusive: ", "EXCLUSIVE-", "UPDATE 1-", "UPDATE 2-", "Breaking: ", "BREAKING NEWS: ",
    "RE-TRANSMISSION: ", "Analysis: ", "Watch: ", "REFILE-", "Report: ",
]  # fmt: skip
#: respellings outlets make (either way)
RESPELLINGS = [
    ("US", "U.S."), ("AI", "A.I."), ("UK", "U.K."), ("EU", "E.U."), ("Microsoft", "MSFT"),
    ("Google", "GOOGL"), ("Apple", "AAPL"), ("Amazon", "AMZN"), ("Facebook", "FB"),
]  # fmt: skip
FAMILIES = [
    ["Power Apps", "Power Automate", "Power BI", "Power Pages", "Power Virtual Agents"],
    ["Microsoft", "Google", "Amazon", "IBM", "Apple"],
    ["Teams", "Outlook", "SharePoint", "Excel"],
    ["Dataverse", "Dynamics 365"],
    ["Boston", "Portland", "Minneapolis", "Baltimore", "Easthampton"],
    ["ACLU", "EFF"],
    ["Congress", "Senate"],
]
STAGES = [
    ("public preview", "general availability"), ("Public Preview", "General Availability"),
    ("Preview", "General Availability"), ("preview", "general availability"),
    ("generally available", "in preview"), ("now available", "in preview"),
    ("beta", "stable release"),
]  # fmt: skip
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip
PLATFORMS = ["Windows", "Mac", "iOS", "Android", "Linux", "iPhone", "Xbox", "web"]
#: edits whose order matters are made in this order
COPY_KINDS = [
    "respelling", "subtitle", "ellipsis", "curly quotes", "title case", "upper case",
    "prefix", "suffix",
]  # fmt: skip
LOOKALIKE_KINDS = ["family", "stage", "month", "version", "number", "platform"]


@dataclass(frozen=True)
class Item:
    """One real article: what a copy or a look-alike is made from."""

    key: str
    title: str
    excerpt: str
    when: datetime
    url: str
    provider: tuple[str, str]


@dataclass
class Made:
    """A generated file: a copy (`group` is its original's key) or a look-alike."""

    kind: str
    source: str
    title: str
    excerpt: str
    when: datetime
    url: str
    provider: tuple[str, str]
    lookalike: bool = False


@dataclass
class Tally:
    found: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.found / self.total if self.total else float("nan")


# -- real articles --------------------------------------------------------------------


def _front(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    data: Any = yaml.safe_load(text.split("---", 2)[1])
    return data if isinstance(data, dict) else {}


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def _item(data: dict[str, Any], key: str) -> Item | None:
    title = html.unescape(str(data.get("title") or "")).strip()
    when = _when(data.get("publishedDateTime"))
    url = data.get("webUrl") or data.get("originalUrl")
    if not title or when is None or not url:
        return None
    provider = data.get("provider") or {}
    return Item(
        key=key,
        title=title,
        excerpt=html.unescape(str(data.get("excerpt") or "")).strip(),
        when=when,
        url=str(url),
        provider=(str(provider.get("name") or "Unknown"), str(provider.get("domain") or "")),
    )


def seed_items(seeds: Path = SEEDS, stubs: bool = True, articles: bool = True) -> list[Item]:
    """The seeds' articles and their related coverage stubs, one item per URL."""
    items: dict[str, Item] = {}
    for path in sorted(seeds.iterdir()):
        data = _front(path)
        if articles and (item := _item(data, f"seed:{path.name}")) is not None:
            items.setdefault(item.url, item)
        for n, stub in enumerate(data.get("related") or [] if stubs else []):
            if (item := _item(stub, f"stub:{path.name}:{n}")) is not None:
                items.setdefault(item.url, item)
    return list(items.values())


def corpus_items(folder: Path) -> list[Item]:
    found = []
    for path in sorted(folder.glob("*.md")):
        if (item := _item(_front(path), f"corpus:{path.name}")) is not None:
            found.append(item)
    return found


# -- edits ----------------------------------------------------------------------------


def _swap_phrase(title: str, pairs: Iterable[tuple[str, str]]) -> str | None:
    for a, b in pairs:
        for old, new in ((a, b), (b, a)):
            pattern = re.compile(rf"(?<![\w.]){re.escape(old)}(?![\w])")
            if pattern.search(title):
                return pattern.sub(new, title, count=1)
    return None


def edit_title(kind: str, title: str, rng: random.Random, outlet: str) -> str | None:
    """The title edited one way (`COPY_KINDS`), or None when the edit does not apply."""
    words = title.split()
    if kind == "respelling":
        return _swap_phrase(title, RESPELLINGS)
    if kind == "subtitle":
        parts = re.split(r"\s*(?::|\s[-|\u2013\u2014])\s+", title, maxsplit=1)
        return parts[0] if len(parts) == 2 and len(parts[0].split()) >= 3 else None
    if kind == "ellipsis":
        if len(words) < 7:
            return None
        kept = rng.randrange(max(4, len(words) // 2), len(words) - 1)
        cut = " ".join(words[:kept])
        if rng.random() < 0.3:  # cut inside the next word
            cut += " " + words[kept][: max(1, len(words[kept]) // 2)]
        return cut + rng.choice(["...", "\u2026", " ...", " \u2026"])
    if kind == "curly quotes":
        if "'" in title or '"' in title:
            curly = re.sub(r'"([^"]*)"', "\u201c\\1\u201d", title)
            return curly.replace("'", "\u2019")
        if any(c in title for c in "\u2018\u2019\u201c\u201d"):
            return title.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\""))
        return None
    if kind == "title case":
        cased = " ".join(w[:1].upper() + w[1:].lower() for w in words)
        return cased if cased != title else None
    if kind == "upper case":
        return title.upper()
    if kind == "prefix":
        return rng.choice(PREFIXES) + title
    if kind == "suffix":
        return title + rng.choice([" - ", " | ", " \u2014 "]) + outlet
    raise ValueError(kind)


def edit_excerpt(excerpt: str, rng: random.Random, outlet: str) -> str:
    """The excerpt as a syndicated copy gives it: the same, lightly edited, or cut."""
    words = excerpt.split()
    choice = rng.choice(["same", "edited", "cut", "dateline"])
    if choice == "edited" and len(words) > 8:
        words[rng.randrange(len(words))] = rng.choice(["now", "also", "today", "new"])
        return " ".join(words)
    if choice == "cut" and len(words) > 8:
        return " ".join(words[: rng.randrange(len(words) * 2 // 3, len(words))]) + " ..."
    if choice == "dateline":
        return f"({outlet}) - {excerpt}"
    return excerpt


def _first_number(title: str, version: bool) -> re.Match[str] | None:
    for match in re.finditer(r"\b[vV]?\d[\d.,]*\b", title):
        text = match.group()
        versioned = (
            text[0] in "vV"
            or "." in text.strip(".")
            or re.search(r"(?i)\b(?:version|wave|release|v)\s*$", title[: match.start()])
        )
        if bool(versioned) == version:
            return match
    return None


def swap_word(kind: str, title: str, rng: random.Random) -> str | None:
    """The title with one distinguishing word swapped (`LOOKALIKE_KINDS`), or None."""
    if kind == "family":
        for family in FAMILIES:
            for name in family:
                pattern = re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])")
                if pattern.search(title):
                    other = rng.choice([n for n in family if n != name])
                    return pattern.sub(other, title, count=1)
        return None
    if kind == "stage":
        return _swap_phrase(title, STAGES)
    if kind == "month":
        for n, month in enumerate(MONTHS):
            pattern = re.compile(rf"\b{month}\b")
            if pattern.search(title):
                return pattern.sub(MONTHS[(n + rng.randrange(1, 12)) % 12], title, count=1)
        return None
    if kind in ("version", "number"):
        match = _first_number(title, version=kind == "version")
        if match is None:
            return None
        text = match.group()
        digits = [i for i, c in enumerate(text) if c.isdigit()]
        at = digits[-1]
        changed = text[:at] + str((int(text[at]) + rng.randrange(1, 9)) % 10) + text[at + 1 :]
        return title[: match.start()] + changed + title[match.end() :]
    if kind == "platform":
        pairs = [(a, b) for a in PLATFORMS for b in PLATFORMS if a != b]
        rng.shuffle(pairs)
        return _swap_phrase(title, pairs)
    raise ValueError(kind)


# -- the files ------------------------------------------------------------------------


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(map(str, (seed, *parts))))


def copies(items: Sequence[Item], kinds: Sequence[str], seed: int) -> list[Made]:
    """One copy of each item with the edits of `kinds` (in `COPY_KINDS` order), where
    they all apply."""
    made = []
    label = " + ".join(kinds)
    for item in items:
        rng = _rng(seed, "copy", label, item.key)
        outlet = rng.choice([o for o in OUTLETS if o[0] != item.provider[0]])
        title: str | None = item.title
        for kind in sorted(kinds, key=COPY_KINDS.index):
            title = edit_title(kind, title, rng, outlet[0]) if title is not None else None
        if title is None or title == item.title:
            continue
        when = item.when + timedelta(minutes=rng.randrange(5, 36 * 60))
        excerpt = edit_excerpt(item.excerpt, rng, outlet[0])
        url = f"https://www.{outlet[1]}/news/{rng.randrange(10**9)}"
        made.append(Made(label, item.key, title, excerpt, when, url, outlet))
    return made


def lookalikes(items: Sequence[Item], kind: str, seed: int) -> list[Made]:
    """One look-alike of each item where `kind` applies, with another article's excerpt."""
    made = []
    excerpts = sorted({i.excerpt for i in items if len(i.excerpt.split()) >= 8})
    for item in items:
        rng = _rng(seed, "lookalike", kind, item.key)
        title = swap_word(kind, item.title, rng)
        if title is None or title == item.title:
            continue
        own = rng.choice([e for e in excerpts if e != item.excerpt] or [""])
        when = item.when + timedelta(minutes=rng.randrange(30, 48 * 60))
        url = f"https://{item.provider[1] or 'example.org'}/another/{rng.randrange(10**9)}"
        made.append(Made(kind, item.key, title, own, when, url, item.provider, lookalike=True))
    return made


def _write(folder: Path, name: str, title: str, excerpt: str, when: datetime, url: str,
           provider: tuple[str, str]) -> None:  # fmt: skip
    fields: dict[str, Any] = {
        "title": title,
        "excerpt": excerpt,
        "publishedDateTime": when.isoformat(),
        "webUrl": url,
        "type": "article",
        "quality": 50,
        "published": True,
        "provider": {"name": provider[0], "domain": provider[1] or "example.org"},
        "topics": ["News"],
    }
    text = "---\n" + yaml.safe_dump(fields, sort_keys=False, allow_unicode=True) + "---\n"
    (folder / name).write_text(text, encoding="utf-8")


def stories_of(folder: Path, items: Sequence[Item], made: Sequence[Made]) -> dict[str, int]:
    """Write the items and the made files to `folder`, deduplicate them with the
    build's dedupe, and return the story (a number) of each item key and made file."""
    folder.mkdir(parents=True)
    names: dict[str, str] = {}
    for n, item in enumerate(items):
        name = f"o{n:05}.md"
        names[str(folder / name)] = item.key
        _write(folder, name, item.title, item.excerpt, item.when, item.url, item.provider)
    for n, m in enumerate(made):
        name = f"m{n:05}.md"
        names[str(folder / name)] = f"made:{n}"
        _write(folder, name, m.title, m.excerpt, m.when, m.url, m.provider)
    articles, errors = load_all(find_files([folder], ["*.md"]), workers=1)
    if errors:
        raise SystemExit(f"{errors[0].path}:{errors[0].line}: {errors[0].reason}")
    stories = find_stories(articles)
    story: dict[str, int] = {}
    for number, members in enumerate(stories.members):
        for path in members:
            story[names[path]] = number
    return story


@dataclass
class Results:
    copies: dict[str, Tally]
    lookalikes: dict[str, Tally]
    #: over everything together: predicted pairs with a made file, and those right
    precision: float
    pairs: int
    #: pairs of two real articles merged (they may really be one story)
    originals_merged: int
    files: int
    #: the pairs merged wrongly, together
    wrong: list[str] = field(default_factory=list)


def measure(items: Sequence[Item], seed: int = 1, pairs_per_item: int = 3) -> Results:
    """Recall per copy kind, false merges per look-alike kind, precision together."""
    with tempfile.TemporaryDirectory(prefix="dedupe-real-") as tmp:
        root = Path(tmp)
        copy_tallies: dict[str, Tally] = {}
        everything: list[Made] = []
        both = [
            [a, b]
            for a, b in itertools.combinations(COPY_KINDS, 2)
            if {a, b} != {"title case", "upper case"}
        ]
        kinds = [[k] for k in COPY_KINDS] + both
        for n, kind in enumerate(kinds):
            made = copies(items, kind, seed)
            if len(kind) == 2:  # a sample of the pairs of edits, to keep the count down
                made = [
                    m
                    for m in made
                    if _rng(seed, "pair", m.source, m.kind).random() < pairs_per_item / len(both)
                ]
            if not made:
                continue
            everything += made
            tally = copy_tallies.setdefault(" + ".join(kind), Tally())
            story = stories_of(root / f"copy{n}", items, made)
            for i, m in enumerate(made):
                tally.total += 1
                if story[f"made:{i}"] == story[m.source]:
                    tally.found += 1
                else:
                    tally.misses.append(f"{_title(items, m.source)!r} -> {m.title!r}")
        look_tallies: dict[str, Tally] = {}
        for kind in LOOKALIKE_KINDS:
            made = lookalikes(items, kind, seed)
            if not made:
                continue
            everything += made
            tally = look_tallies.setdefault(kind, Tally())
            story = stories_of(root / f"look-{kind}", items, made)
            for i, m in enumerate(made):
                tally.total += 1
                if story[f"made:{i}"] == story[m.source]:
                    tally.found += 1
                    tally.misses.append(f"{_title(items, m.source)!r} ~ {m.title!r}")
        # Real articles the build takes for one story (the same release filed twice),
        # or with one headline in the same days, are one group: precision counts the
        # merges the generated files bring.
        alone = stories_of(root / "originals", items, [])
        group = {item.key: f"story:{alone[item.key]}" for item in items}
        for a, b in itertools.combinations(sorted(items, key=lambda i: i.when), 2):
            if (
                abs(b.when - a.when) <= timedelta(days=3)
                and title_words(a.title) == title_words(b.title)
                and group[a.key] != group[b.key]
            ):
                old = group[b.key]
                group.update({k: group[a.key] for k, g in group.items() if g == old})
        for i, m in enumerate(everything):
            group[f"made:{i}"] = group[m.source] if not m.lookalike else f"made:{i}"
        story = stories_of(root / "all", items, everything)
        members: dict[int, list[str]] = {}
        for key, number in story.items():
            members.setdefault(number, []).append(key)
        predicted = right = originals = 0
        wrong: list[str] = []
        for keys in members.values():
            for a, b in itertools.combinations(sorted(keys), 2):
                if not (a.startswith("made:") or b.startswith("made:")):
                    originals += 1
                    continue
                predicted += 1
                right += group[a] == group[b]
                if group[a] != group[b]:
                    wrong.append(
                        f"{_name(items, everything, a)!r} ~ {_name(items, everything, b)!r}"
                    )
        return Results(
            copy_tallies,
            look_tallies,
            right / predicted if predicted else 1.0,
            predicted,
            originals,
            len(items) + len(everything),
            wrong,
        )


def _name(items: Sequence[Item], made: Sequence[Made], key: str) -> str:
    if key.startswith("made:"):
        m = made[int(key[5:])]
        return f"{m.kind}: {m.title}"
    return _title(items, key)


def _title(items: Sequence[Item], key: str) -> str:
    return next(i.title for i in items if i.key == key)


def report(results: Results, out: Callable[[str], None] = print, misses: bool = False) -> None:
    out(f"{'copies (edit)':34} {'found':>7} {'recall':>7}")
    found = total = 0
    for kind, tally in results.copies.items():
        found, total = found + tally.found, total + tally.total
        out(f"{kind:34} {tally.found:>3}/{tally.total:<3} {tally.rate:7.3f}")
        for miss in tally.misses if misses else []:
            out(f"    missed: {miss}")
    out(f"{'all copies':34} {found:>3}/{total:<3} {found / max(total, 1):7.3f}")
    out(f"\n{'look-alikes (word swapped)':34} {'merged':>7} {'rate':>7}")
    merged = total = 0
    for kind, tally in results.lookalikes.items():
        merged, total = merged + tally.found, total + tally.total
        out(f"{kind:34} {tally.found:>3}/{tally.total:<3} {tally.rate:7.3f}")
        for miss in tally.misses if misses else []:
            out(f"    merged: {miss}")
    out(f"{'all look-alikes':34} {merged:>3}/{total:<3} {merged / max(total, 1):7.3f}")
    out(
        f"\neverything together ({results.files} files): precision {results.precision:.3f} "
        f"over {results.pairs} pairs with a generated file; "
        f"{results.originals_merged} pairs of real articles merged"
    )
    for pair in results.wrong if misses else []:
        out(f"    wrongly merged: {pair}")


def totals(results: Results) -> tuple[float, float]:
    """Recall of all copies and the share of look-alikes merged."""
    found = sum(t.found for t in results.copies.values())
    copies_total = sum(t.total for t in results.copies.values())
    merged = sum(t.found for t in results.lookalikes.values())
    looks = sum(t.total for t in results.lookalikes.values())
    return found / max(copies_total, 1), merged / max(looks, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the power-apps corpus")
    parser.add_argument("--seeds-only", action="store_true", help="leave the corpus out")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--misses", action="store_true", help="list missed copies and merges")
    args = parser.parse_args(argv)
    items = seed_items()
    if not args.seeds_only and args.corpus.is_dir():
        items += corpus_items(args.corpus)
        print(f"{len(items)} real articles: the seeds and {args.corpus}")
    else:
        print(f"{len(items)} real articles: the seeds only (no corpus at {args.corpus})")
    results = measure(items, args.seed)
    report(results, misses=args.misses)
    recall, merged = totals(results)
    ok = recall >= MIN_COPY_RECALL and merged <= MAX_LOOKALIKE_MERGED
    print(
        f"\ntargets: copy recall >= {MIN_COPY_RECALL} ({recall:.3f}), look-alikes merged <= "
        f"{MAX_LOOKALIKE_MERGED:.0%} ({merged:.1%}): {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
