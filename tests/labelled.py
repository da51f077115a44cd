"""A generated, labelled news corpus for measuring deduplication.

Stories are built from templates; each story is filed one to four times, the copies
edited the way syndication edits them (another provider's URL or an AMP or tracked
form of the same URL, a word added or dropped, a provider suffix, other case or
punctuation, an excerpt cut short, with a dateline, or the outlet's own). Beside them stand hard
negatives: other stories on the same subject in the same days (another company,
another number, another action) and the same headline months later. The truth is
which files are copies of one story. Two events never share a headline within ten
days (an editor would call those one story).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

from conftest import front_matter

COMPANIES = [
    "Microsoft", "Google", "Amazon", "Apple", "Meta", "IBM", "Nvidia", "Intel", "Oracle",
    "Salesforce", "Adobe", "Tesla", "Samsung", "Sony", "Baidu", "Alibaba", "Tencent", "Huawei",
    "OpenAI", "Anthropic", "DeepMind", "Siemens", "Bosch", "Philips", "Nokia", "Ericsson", "SAP",
    "Spotify", "Uber", "Airbnb", "Netflix", "Palantir", "Clearview", "Zoom", "Slack", "Dropbox",
]  # fmt: skip
PLACES = [
    "Boston", "Portland", "San Francisco", "London", "Berlin", "Paris", "Tokyo", "Toronto",
    "Sydney", "Dublin", "Madrid", "Seoul", "Chicago", "Austin", "Denver", "Oslo", "Vienna",
]  # fmt: skip
ACTIONS = [
    ("launches", "launched"), ("unveils", "unveiled"), ("delays", "delayed"),
    ("expands", "expanded"), ("scraps", "scrapped"), ("tests", "tested"),
    ("opens", "opened"), ("pauses", "paused"), ("upgrades", "upgraded"), ("sells", "sold"),
]  # fmt: skip
THINGS = [
    "facial recognition software", "AI chatbot", "self-driving taxi service", "cloud platform",
    "quantum computing lab", "data centre", "speech recognition tool", "chip factory",
    "translation app", "robot delivery fleet", "medical imaging model", "fraud detection system",
    "smart glasses", "coding assistant", "satellite internet service", "battery plant",
]  # fmt: skip
CONTEXTS = [
    "amid privacy concerns", "for hospitals", "after regulatory review", "in Europe",
    "for small businesses", "despite chip shortage", "to rival competitors", "for schools",
    "after customer complaints", "in a push into healthcare", "ahead of annual conference",
]  # fmt: skip
PROVIDERS = [
    ("Reuters", "reuters.com"), ("The Verge", "theverge.com"), ("TechCrunch", "techcrunch.com"),
    ("The Hill", "thehill.com"), ("Wired", "wired.com"), ("ZDNet", "zdnet.com"),
    ("CNET", "cnet.com"), ("Engadget", "engadget.com"), ("VentureBeat", "venturebeat.com"),
    ("Ars Technica", "arstechnica.com"), ("BBC", "bbc.co.uk"), ("The Register", "theregister.com"),
]  # fmt: skip
FILLER = [
    "analysts",
    "investors",
    "regulators",
    "customers",
    "engineers",
    "executives",
    "critics",
    "partners",
    "officials",
    "researchers",
    "unions",
    "shareholders",
    "developers",
    "startups",
    "governments",
    "competitors",
    "suppliers",
    "hospitals",
    "universities",
    "retailers",
    "banks",
    "insurers",
    "airlines",
    "farmers",
    "teachers",
    "doctors",
]
DETAILS = [
    "pricing",
    "timeline",
    "funding",
    "rollout",
    "pilot",
    "contract",
    "lawsuit",
    "budget",
    "audit",
    "licence",
    "survey",
    "forecast",
    "merger",
    "shortage",
    "backlog",
    "tender",
    "upgrade",
    "outage",
    "recall",
    "review",
    "patent",
    "deadline",
]


@dataclass(frozen=True)
class Story:
    company: str
    action: tuple[str, str]
    thing: str
    context: str
    place: str
    number: int
    when: datetime
    seed: int

    def title(self) -> str:
        return f"{self.company} {self.action[0]} {self.thing} {self.context}"

    def excerpt(self) -> str:
        rng = random.Random(self.seed)
        who = rng.sample(FILLER, 3)
        what = rng.sample(DETAILS, 3)
        return (
            f"{self.company} {self.action[1]} its {self.thing} in {self.place} on "
            f"{self.when:%A}, a move that {who[0]} tied to the {what[0]} and the {what[1]}. "
            f"The company said {self.number} {who[1]} would be affected, while {who[2]} "
            f"questioned the {what[2]}."
        )


@dataclass
class Labelled:
    #: paths of the files of each story filed more than once
    groups: list[list[str]]
    files: int

    def truth_pairs(self) -> set[frozenset[str]]:
        return {frozenset(p) for group in self.groups for p in combinations(group, 2)}


def _edit_title(title: str, rng: random.Random, provider: str) -> str:
    words = title.split()
    edits = rng.sample(["add", "drop", "suffix", "case", "punct", "prefix", "none"], 2)
    for edit in edits:
        if edit == "add":
            words.insert(rng.randrange(1, len(words) + 1), rng.choice(["new", "software", "today"]))
        elif edit == "drop" and len(words) > 6:
            del words[rng.randrange(len(words) - 3, len(words))]
        elif edit == "suffix":
            words += [rng.choice(["-", "|"]), provider]
        elif edit == "case":
            words = [w.lower() if rng.random() < 0.5 else w.capitalize() for w in words]
        elif edit == "punct":
            words[1] = words[1] + ":"
        elif edit == "prefix":
            words.insert(0, rng.choice(["UPDATE 1-", "EXCLUSIVE:", "Breaking:"]))
    return " ".join(words)


def _edit_excerpt(excerpt: str, rng: random.Random, provider: str) -> str:
    choice = rng.choice(["same", "cut", "dateline", "word", "same", "cut", "dateline", "own"])
    if choice == "own":  # the outlet wrote its own excerpt
        who, what = rng.sample(FILLER, 2), rng.sample(DETAILS, 2)
        return (
            f"{provider} reports that {who[0]} and {who[1]} are watching "
            f"the {what[0]} and {what[1]}."
        )
    if choice == "cut":
        words = excerpt.split()
        return " ".join(words[: rng.randrange(len(words) // 2, len(words))]) + " ..."
    if choice == "dateline":
        return f"SAN FRANCISCO ({provider}) - {excerpt}"
    if choice == "word":
        words = excerpt.split()
        words[rng.randrange(len(words))] = rng.choice(FILLER)
        return " ".join(words)
    return excerpt


def _article(
    story: Story, title: str, excerpt: str, url: str, when: datetime, provider: tuple[str, str]
) -> dict[str, Any]:
    rng = random.Random(url)
    return {
        "title": title,
        "excerpt": excerpt,
        "publishedDateTime": when,
        "webUrl": url,
        "type": "article",
        "quality": rng.randrange(20, 150),
        "published": True,
        "provider": {"name": provider[0], "domain": provider[1]},
        "topics": ["AI", story.thing.split()[0].capitalize()],
        "images": [{"url": f"https://img.{provider[1]}/{rng.randrange(10**6)}.jpg"}],
    }


def build_labelled_corpus(folder: Path, stories: int = 400, seed: int = 7) -> Labelled:
    """Write the corpus to `folder` and return its truth."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2021, 1, 1, tzinfo=UTC)
    groups: list[list[str]] = []
    files = 0

    def write(fields: dict[str, Any]) -> str:
        nonlocal files
        files += 1
        name = f"{rng.randrange(16**8):08x}-{files:05}.md"
        (folder / name).write_text(front_matter(fields), encoding="utf-8")
        return str(folder / name)

    recent: dict[str, datetime] = {}  # headline -> when last used
    for number in range(stories):
        story = Story(
            company=rng.choice(COMPANIES),
            action=rng.choice(ACTIONS),
            thing=rng.choice(THINGS),
            context=rng.choice(CONTEXTS),
            place=rng.choice(PLACES),
            number=rng.choice([50, 120, 300, 500, 800, 1200, 2000]),
            # dense in time: about 3 stories an hour, so the window holds hundreds
            when=start + timedelta(minutes=20 * number + rng.randrange(20)),
            seed=rng.randrange(10**9),
        )
        # Two events never share a headline within ten days: that would be one story.
        if story.when - recent.get(story.title(), start - timedelta(days=99)) < timedelta(days=10):
            continue
        recent[story.title()] = story.when
        slug = story.title().lower().replace(" ", "-")
        copies = rng.choice([1, 1, 2, 2, 3, 4])
        providers = rng.sample(PROVIDERS, copies)
        group: list[str] = []
        for copy, provider in enumerate(providers):
            url = f"https://www.{provider[1]}/news/{story.when:%Y/%m}/{slug}-{story.seed % 1000}"
            if copy == 0:
                title, excerpt, when = story.title(), story.excerpt(), story.when
            else:
                title = _edit_title(story.title(), rng, provider[0])
                excerpt = _edit_excerpt(story.excerpt(), rng, provider[0])
                when = story.when + timedelta(minutes=rng.randrange(5, 36 * 60))
            group.append(write(_article(story, title, excerpt, url, when, provider)))
        if rng.random() < 0.15:  # the same page again, in an AMP or tracked form
            first = group[0]
            provider = providers[0]
            url = f"https://www.{provider[1]}/news/{story.when:%Y/%m}/{slug}-{story.seed % 1000}"
            form = rng.choice(
                [url + "/amp/", url + "?utm_source=rss&utm_medium=feed", url + "?amp"]
            )
            fields = _article(story, story.title(), story.excerpt(), form, story.when, provider)
            group.append(write(fields))
            assert first in group
        if len(group) > 1:
            groups.append(group)

        # Hard negatives: other stories on the same subject in the same days.
        kind = rng.random()
        if kind < 0.25:
            other = Story(
                rng.choice([c for c in COMPANIES if c != story.company]),
                story.action, story.thing, story.context, story.place, story.number,
                story.when + timedelta(hours=rng.randrange(1, 48)), rng.randrange(10**9),
            )  # fmt: skip
        elif kind < 0.45:
            other = Story(
                story.company, rng.choice([a for a in ACTIONS if a != story.action]), story.thing,
                story.context, story.place, story.number,
                story.when + timedelta(hours=rng.randrange(1, 48)), rng.randrange(10**9),
            )  # fmt: skip
        elif kind < 0.55:
            other = Story(
                story.company, story.action, story.thing,
                rng.choice([c for c in CONTEXTS if c != story.context]), story.place,
                story.number, story.when + timedelta(hours=rng.randrange(1, 48)),
                rng.randrange(10**9),
            )  # fmt: skip
        elif kind < 0.65:
            # the same headline months later: a new event, outside the window
            other = Story(
                story.company, story.action, story.thing, story.context, story.place,
                story.number, story.when + timedelta(days=rng.randrange(60, 200)),
                rng.randrange(10**9),
            )  # fmt: skip
        else:
            continue
        if other.when - recent.get(other.title(), start - timedelta(days=99)) < timedelta(days=10):
            continue
        recent[other.title()] = other.when
        provider = rng.choice(PROVIDERS)
        url = f"https://{provider[1]}/story/{other.seed}"
        write(_article(other, other.title(), other.excerpt(), url, other.when, provider))
    return Labelled(groups, files)
