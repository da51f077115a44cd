"""Finding article files and loading them: real files in tmp_path, no mocks.

A user points the aggregator at folders of article files. Good files become
`Article`s; every bad file becomes exactly one `LoadError(path, line, reason)`
pointing at the 1-based line a person would open in an editor, and never stops
the good files around it from loading.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SEEDS
from conftest import article_fields
from conftest import front_matter
from conftest import write_article

from aggregator.config import DEFAULT_PATTERNS
from aggregator.errors import ConfigError
from aggregator.model import Article
from aggregator.model import LoadError
from aggregator.sources import fastyaml
from aggregator.sources import yamltext
from aggregator.sources.loader import find_files
from aggregator.sources.loader import load_all
from aggregator.sources.loader import load_file
from aggregator.stories.urls import canonical_url

TITLE = "title: A good title"
LINK = "webUrl: https://news.example.com/a-good-story"
WHEN = "publishedDateTime: 2021-03-02T12:00:00Z"
BASE = (TITLE, LINK, WHEN)


def fm(*lines: str, body: str = "") -> bytes:
    """Front matter made of exactly these lines: line 1 is '---', lines[0] is line 2."""
    return ("---\n" + "\n".join(lines) + "\n---\n" + body).encode("utf-8")


def write_bytes(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def load_folder(*folders: Path) -> tuple[list[Article], list[LoadError]]:
    return load_all(find_files(list(folders), DEFAULT_PATTERNS))


def load_one(path: Path) -> Article:
    articles, errors = load_all([path])
    assert errors == [], [str(e) for e in errors]
    assert len(articles) == 1
    return articles[0]


def error_for(path: Path) -> LoadError:
    articles, errors = load_all([path])
    assert articles == []
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


# --------------------------------------------------------------------------- #
# find_files
# --------------------------------------------------------------------------- #


def test_find_files_searches_recursively_with_the_default_patterns(tmp_path: Path) -> None:
    wanted = [
        write_bytes(tmp_path, "a.md", b"x"),
        write_bytes(tmp_path, "b.txt", b"x"),
        write_bytes(tmp_path, "c.yaml", b"x"),
        write_bytes(tmp_path, "d.yml", b"x"),
        write_bytes(tmp_path, "2021/03/deep.md", b"x"),
        write_bytes(tmp_path, "2021/notes.txt", b"x"),
    ]
    for other in ("e.json", "f.html", "g.markdown", "h.md.bak", "README"):
        write_bytes(tmp_path, other, b"x")

    found = find_files([tmp_path], DEFAULT_PATTERNS)

    assert sorted(found) == sorted(wanted)


def test_find_files_skips_hidden_folders_and_files(tmp_path: Path) -> None:
    visible = write_bytes(tmp_path, "story.md", b"x")
    write_bytes(tmp_path, ".git/story.md", b"x")
    write_bytes(tmp_path, ".git/objects/ab/notes.txt", b"x")
    write_bytes(tmp_path, "sub/.cache/cached.yaml", b"x")
    write_bytes(tmp_path, ".hidden.md", b"x")

    assert find_files([tmp_path], DEFAULT_PATTERNS) == [visible]


def test_find_files_honours_custom_patterns(tmp_path: Path) -> None:
    md = write_bytes(tmp_path, "one.md", b"x")
    write_bytes(tmp_path, "two.txt", b"x")
    nested = write_bytes(tmp_path, "sub/three.md", b"x")

    assert find_files([tmp_path], ["*.md"]) == [md, nested]


def test_find_files_order_is_sorted_per_source_whatever_the_creation_order(
    tmp_path: Path,
) -> None:
    names = ["zeta.md", "alpha.md", "m/beta.txt", "m/alpha.yaml", "b.yml", "a/z.md"]
    for name in names:
        write_bytes(tmp_path, name, b"x")

    found = find_files([tmp_path], DEFAULT_PATTERNS)

    expected = sorted((tmp_path / n for n in names), key=lambda p: p.as_posix())
    assert found == expected
    assert find_files([tmp_path], DEFAULT_PATTERNS) == found  # same again


def test_find_files_lists_paths_in_order_whatever_the_order_of_sources(tmp_path: Path) -> None:
    """One order for a build of several sources, as for one folder: an incremental build
    (which takes the order of paths) then gives a cold build's bytes and report."""
    first, second = tmp_path / "second-alphabetically", tmp_path / "first-alphabetically"
    b1 = write_bytes(first, "b.md", b"x")
    a1 = write_bytes(first, "a.md", b"x")
    z2 = write_bytes(second, "z.md", b"x")
    y2 = write_bytes(second, "y.md", b"x")

    assert find_files([first, second], DEFAULT_PATTERNS) == [y2, z2, a1, b1]
    assert find_files([second, first], DEFAULT_PATTERNS) == [y2, z2, a1, b1]


def test_find_files_lists_a_file_once_when_sources_overlap(tmp_path: Path) -> None:
    top = write_bytes(tmp_path, "top.md", b"x")
    inner = write_bytes(tmp_path, "sub/inner.md", b"x")

    found = find_files([tmp_path, tmp_path / "sub"], DEFAULT_PATTERNS)

    assert found == [inner, top]


def test_find_files_a_name_not_utf8_hides_no_file_of_another_source(tmp_path: Path) -> None:
    """A link whose name is not UTF-8 (reported, never read) to a file of another
    source leaves that file listed under its own name; one such name found through
    overlapping sources is listed once."""
    real = write_bytes(tmp_path / "more", "b.md", b"x")
    link = Path(os.fsdecode(os.fsencode(tmp_path) + b"/src/bad-\xff.md"))
    link.parent.mkdir()
    link.symlink_to(real)
    inner = Path(os.fsdecode(os.fsencode(tmp_path) + b"/src/sub/\xfe.md"))
    inner.parent.mkdir()
    inner.write_bytes(b"x")

    sources = [tmp_path / "src", tmp_path / "more", tmp_path / "src" / "sub"]
    assert find_files(sources, DEFAULT_PATTERNS) == [real, link, inner]


def test_find_files_reports_a_missing_source_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not-there"):
        find_files([tmp_path / "not-there"], DEFAULT_PATTERNS)


# --------------------------------------------------------------------------- #
# the corpus of broken files
# --------------------------------------------------------------------------- #

# 9 levels of 9 aliases: 9**9 (387 million) nodes once expanded.
_BOMB = ['lol: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
for _prev, _name in zip("abcdefgh", "bcdefghi", strict=True):
    _BOMB.append(f"{_name}{_name}: &{_name} [" + ", ".join([f"*{_prev}"] * 9) + "]")
BOMB_FIRST_LINE = len(BASE) + 2  # line of the first anchor in the file
BOMB_LAST_LINE = BOMB_FIRST_LINE + len(_BOMB) - 1
MARKER_NAME = "tag-was-executed"


@dataclass(frozen=True)
class Broken:
    name: str
    data: bytes
    #: the 1-based lines that are right for this problem (usually one)
    lines: tuple[int, ...]
    #: substrings the reason must contain (case-insensitive)
    reason: tuple[str, ...]


def _broken_files(marker: Path) -> list[Broken]:
    return [
        Broken(
            "not-utf8.md",
            b"---\n"
            + TITLE.encode()
            + b"\nexcerpt: caf\xe9 cr\xe8me\n"
            + LINK.encode()
            + b"\n"
            + WHEN.encode()
            + b"\n---\n",
            (3,),
            ("utf-8",),
        ),
        Broken("empty.md", b"", (1,), ("empty",)),
        Broken("whitespace-only.txt", b"   \n\t\n\r\n  ", (1,), ("empty",)),
        Broken("a-list.yaml", b"- title: one\n- title: two\n", (1,), ("mapping",)),
        Broken("list-front-matter.md", fm("- one", "- two"), (2,), ("mapping",)),
        Broken(
            "alias-bomb.md",
            fm(*BASE, *_BOMB),
            tuple(range(BOMB_FIRST_LINE, BOMB_LAST_LINE + 1)),
            ("alias",),
        ),
        Broken(
            "python-tag.md",
            fm(*BASE, f"payload: !!python/object/apply:os.system ['touch {marker}']"),
            (5,),
            ("tag",),
        ),
        # a missing field has no line of its own: the front matter's first line
        Broken("missing-title.md", fm(LINK, WHEN), (2,), ("missing title",)),
        Broken("empty-title.md", fm('title: ""', LINK, WHEN), (2,), ("title", "empty")),
        Broken("missing-link.md", fm(TITLE, WHEN), (2,), ("missing link",)),
        Broken("missing-date.md", fm(TITLE, LINK), (2,), ("missing publisheddatetime",)),
        Broken(
            "bad-date.md",
            fm(TITLE, LINK, 'publishedDateTime: "last Tuesday"'),
            (4,),
            ("publisheddatetime", "last tuesday"),
        ),
        Broken(
            "quality-string.md",
            fm(
                TITLE,
                "excerpt: A fine excerpt.",
                LINK,
                WHEN,
                "type: article",
                "category: news",
                "published: true",
                'quality: "high"',
            ),
            (9,),
            ("quality", "integer"),
        ),
        Broken("quality-bool.md", fm(*BASE, "quality: true"), (5,), ("quality", "integer")),
        Broken("published-yes.md", fm(*BASE, 'published: "yes"'), (5,), ("published",)),
        # topics that are not a list of names are warnings: see test_warnings.py
        Broken(
            "javascript-link.md",
            fm(TITLE, 'webUrl: "javascript:alert(1)"', WHEN),
            (3,),
            ("weburl", "http"),
        ),
        Broken(
            "ftp-link.md",
            fm(TITLE, "webUrl: ftp://files.example.com/story.md", WHEN),
            (3,),
            ("weburl", "http"),
        ),
        Broken(
            "no-front-matter.md",
            b"# Just a heading\n\nSome markdown text.\n",
            (1,),
            ("no front matter",),
        ),
        Broken(
            "unclosed.md",
            ("---\n" + "\n".join(BASE) + "\n").encode(),
            (1, 4),
            ("not closed",),
        ),
        Broken(
            "deep-nesting.md",
            fm(*BASE, "topics: " + "[" * 10_000),
            (5, 6),
            ("yaml",),
        ),
        Broken(
            "yaml-syntax.md",
            fm(*BASE, "category: news", "excerpt: one: two"),
            (6,),
            ("invalid yaml",),
        ),
        # a number tag on a value with no digit: PyYAML's constructor fails on it with an
        # IndexError, reported as the bad value it is
        Broken("empty-int.md", fm(*BASE, "quality: !!int"), (2,), ("invalid yaml value", "digit")),
        Broken(
            "underscore-float.md",
            fm(*BASE, "score: !!float _"),
            (2,),
            ("invalid yaml value", "digit"),
        ),
        # two values no constructor can build: the one PyYAML meets first is reported (it
        # builds the items of nested collections last)
        Broken(
            "two-bad-tags.md",
            fm(*BASE, "topics:", "  - !!bool maybe", "quality: !!int high"),
            (2,),
            ("invalid yaml value", "high"),
        ),
        Broken(
            "bad-indent.md",
            fm(*BASE, "provider:", "  name: Example", " domain: example.com"),
            (7,),
            ("invalid yaml",),
        ),
    ]


@dataclass(frozen=True)
class Corpus:
    folder: Path
    marker: Path
    broken: dict[str, Broken]
    good: list[Path]
    articles: list[Article]
    errors: list[LoadError]


@pytest.fixture(scope="module")
def broken_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    folder = tmp_path_factory.mktemp("corpus")
    marker = folder.parent / f"{folder.name}-{MARKER_NAME}"
    broken = {case.name: case for case in _broken_files(marker)}
    for case in broken.values():
        write_bytes(folder, case.name, case.data)

    good = [
        write_article(folder, "good-1.md", n=1),
        write_article(folder / "sub" / "deeper", "good-2.txt", n=2),
        write_bytes(
            folder,
            "good-plain.yaml",
            yaml.safe_dump(article_fields(n=3), sort_keys=False).encode(),
        ),
        write_bytes(
            folder,
            "good-crlf.md",
            front_matter(article_fields(n=4), "Body\nhere\n").replace("\n", "\r\n").encode(),
        ),
        write_bytes(
            folder,
            "good-bom.yml",
            b"\xef\xbb\xbf" + front_matter(article_fields(n=5)).encode(),
        ),
        write_bytes(folder, "good-body.md", fm(*BASE, body="# Heading\n\n---\n\nText.\n")),
    ]
    articles, errors = load_folder(folder)
    return Corpus(folder, marker, broken, good, articles, errors)


@pytest.mark.parametrize("name", [case.name for case in _broken_files(Path("/unused"))])
def test_broken_file_is_reported_with_its_path_line_and_reason(
    broken_corpus: Corpus, name: str
) -> None:
    case = broken_corpus.broken[name]
    path = str(broken_corpus.folder / name)

    reported = [e for e in broken_corpus.errors if e.path == path]

    assert len(reported) == 1, f"{name}: {[str(e) for e in broken_corpus.errors]}"
    error = reported[0]
    assert error.line in case.lines, str(error)
    for part in case.reason:
        assert part in error.reason.lower(), str(error)
    assert str(error) == f"{path}:{error.line}: {error.reason}"


def test_every_good_file_beside_the_broken_ones_still_loads(broken_corpus: Corpus) -> None:
    assert sorted(a.path for a in broken_corpus.articles) == sorted(
        str(p) for p in broken_corpus.good
    )
    titles = {a.title for a in broken_corpus.articles}
    assert {f"Story number {n}" for n in range(1, 6)} <= titles
    assert "A good title" in titles


def test_broken_corpus_has_one_error_per_broken_file_and_nothing_else(
    broken_corpus: Corpus,
) -> None:
    assert sorted(e.path for e in broken_corpus.errors) == sorted(
        str(broken_corpus.folder / name) for name in broken_corpus.broken
    )


def test_a_python_tag_is_refused_and_never_runs_its_command(broken_corpus: Corpus) -> None:
    assert not broken_corpus.marker.exists()
    # the same file loaded on its own, to be sure nothing ran
    error = error_for(broken_corpus.folder / "python-tag.md")
    assert "tag" in error.reason
    assert not broken_corpus.marker.exists()


def test_python_tag_in_a_plain_yaml_file_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write_bytes(
        tmp_path,
        "evil.yaml",
        ("\n".join(BASE) + f"\nx: !!python/object/apply:os.system ['touch {marker}']\n").encode(),
    )

    error = error_for(path)

    assert "tag" in error.reason
    assert error.line == 4
    assert not marker.exists()


# --------------------------------------------------------------------------- #
# front matter shapes
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("no-body.md", fm(*BASE)),
        ("no-final-newline.md", ("---\n" + "\n".join(BASE) + "\n---").encode()),
        ("with-body.md", fm(*BASE, body="Some **markdown** body.\n\nMore text.\n")),
        ("crlf.md", fm(*BASE, body="Body.\n").replace(b"\n", b"\r\n")),
        ("bom.md", b"\xef\xbb\xbf" + fm(*BASE)),
        ("bom-crlf.txt", b"\xef\xbb\xbf" + fm(*BASE).replace(b"\n", b"\r\n")),
        (
            "trailing-space.md",
            ("--- \t\n" + "\n".join(BASE) + "\n---   \nBody.\n").encode(),
        ),
        (
            "trailing-space-crlf.md",
            ("---  \r\n" + "\r\n".join(BASE) + "\r\n---\t\r\nBody.\r\n").encode(),
        ),
        ("plain.yaml", ("\n".join(BASE) + "\n").encode()),
        ("plain.yml", ("\n".join(BASE) + "\n").replace("\n", "\r\n").encode()),
    ],
)
def test_front_matter_variants_load(tmp_path: Path, name: str, data: bytes) -> None:
    article = load_one(write_bytes(tmp_path, name, data))

    assert article.title == "A good title"
    assert article.link == "https://news.example.com/a-good-story"
    assert article.published_at == datetime(2021, 3, 2, 12, 0, tzinfo=UTC)
    assert article.path == str(tmp_path / name)


def test_plain_yaml_in_a_md_file_is_not_an_article(tmp_path: Path) -> None:
    error = error_for(write_bytes(tmp_path, "plain.md", ("\n".join(BASE) + "\n").encode()))
    assert error.line == 1
    assert "front matter" in error.reason


@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("UPPER.YAML", True),
        ("v1.2/story.Yml", True),
        ("story.draft.yaml", True),
        ("v1.yaml/story", False),
        ("story.yaml.md", False),
        ("story.yaml.", False),
        ("yaml", False),
    ],
)
def test_plain_yaml_is_told_by_the_file_name_suffix(tmp_path: Path, name: str, plain: bool) -> None:
    # Plain YAML (no `---` lines) is read from a file whose name ends in .yaml or .yml,
    # in any case, whatever its folders are named; any other name needs front matter.
    path = write_bytes(tmp_path, name, ("\n".join(BASE) + "\n").encode())
    if plain:
        assert load_one(path).title == "A good title"
    else:
        assert "front matter" in error_for(path).reason


def test_errors_in_crlf_and_bom_files_report_the_right_line(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + fm(*BASE, "category: news", 'quality: "high"').replace(b"\n", b"\r\n")
    error = error_for(write_bytes(tmp_path, "crlf-bom.md", data))
    assert error.line == 6
    assert "quality" in error.reason


def test_non_utf8_byte_after_crlf_lines_reports_its_line(tmp_path: Path) -> None:
    # a latin-1 byte (0xef, "i" with diaeresis) on line 5
    data = fm(*BASE, "excerpt: naXve").replace(b"\n", b"\r\n").replace(b"X", b"\xef")
    error = error_for(write_bytes(tmp_path, "latin1.md", data))
    assert error.line == 5
    assert "UTF-8" in error.reason


LONE_CR = "line ends that are a lone CR (classic Mac OS): save the file with LF or CRLF line ends"


@pytest.mark.parametrize(
    ("name", "data", "line"),
    [
        # every line end a lone CR, from the opening '---' on
        ("mac.md", fm(*BASE, "published: true").replace(b"\n", b"\r"), 1),
        ("mac.yaml", fm(*BASE, "published: true").replace(b"\n", b"\r"), 1),
        ("mac-body.txt", fm(*BASE, body="Body.\n").replace(b"\n", b"\r"), 1),
        # the first line ends in LF (or CRLF), the others in a lone CR
        ("mac-after.md", b"---\n" + fm(*BASE)[4:].replace(b"\n", b"\r"), 2),
        ("mac-after-crlf.md", b"---\r\n" + fm(*BASE)[4:].replace(b"\n", b"\r"), 2),
    ],
)
def test_lone_cr_line_ends_are_reported_as_such(
    tmp_path: Path, name: str, data: bytes, line: int
) -> None:
    good = write_article(tmp_path, "good.md")
    bad = write_bytes(tmp_path, name, data)

    articles, errors = load_folder(tmp_path)

    assert [a.path for a in articles] == [str(good)]
    assert [str(e) for e in errors] == [f"{bad}:{line}: {LONE_CR}"]


# --------------------------------------------------------------------------- #
# keys written twice (PyYAML reads the last one, and says nothing)
# --------------------------------------------------------------------------- #


@pytest.fixture(params=["yaml-rs", "pyyaml"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test of these runs with yaml-rs installed (when it is) and without it."""
    if request.param == "pyyaml":
        monkeypatch.setattr(fastyaml, "_loads", None)
    return str(request.param)


@pytest.mark.parametrize(
    ("lines", "line", "key"),
    [
        (["published: false", "quality: 80", "published: true"], 7, "published"),
        (["quality: 80", "published: true", "quality: 20"], 7, "quality"),
        (["quality: 80", "published: true", "quality: '80'"], 7, "quality"),  # str, not int
    ],
    ids=["published", "quality", "quality-quoted"],
)
def test_a_deciding_field_written_twice_with_two_values_makes_the_file_invalid(
    tmp_path: Path, parser: str, lines: list[str], line: int, key: str
) -> None:
    """Whether an article is syndicated is the editor's word: with two, the file is
    reported (at the one PyYAML would have read), never published on a guess."""
    error = error_for(write_bytes(tmp_path, "twice.md", fm(*BASE, *lines)))
    assert error.line == line
    assert error.reason == (
        f"{key}: written twice with different values (lines {line - 2} and {line}): "
        "keep the one you mean"
    )


def test_other_keys_written_twice_are_warnings_and_the_last_is_read(
    tmp_path: Path, parser: str
) -> None:
    data = fm(
        "title: The first title",  # line 2
        LINK,
        WHEN,
        "quality: 80",
        "published: true",
        "quality: 80",  # line 7: the same value, written alike
        "title: The second title",  # line 8
        "provider:",
        "  name: First outlet",  # line 10
        "  name: Second outlet",  # line 11
    )
    article = load_one(write_bytes(tmp_path, "twice.md", data))
    assert article.title == "The second title"
    assert article.provider is not None and article.provider.name == "Second outlet"
    assert [(w.line, w.reason) for w in article.warnings] == [
        (7, "quality: written twice (also line 5): this one is read"),
        (8, "title: written twice (also line 2): this one is read"),
        (11, "name: written twice (also line 10): this one is read"),
    ]


def test_a_problem_in_a_key_written_twice_is_reported_at_the_one_read(
    tmp_path: Path, parser: str
) -> None:
    data = fm(
        "title: A good title",
        "webUrl: https://news.example.com/first",
        WHEN,
        "topics: [AI]",  # line 5
        "webUrl: [not, a, url]",  # line 6
    )
    error = error_for(write_bytes(tmp_path, "twice.md", data))
    assert (error.line, error.reason.split(":")[0]) == (6, "webUrl")
    data = fm(*BASE, "topics: [AI]", "topics:", "  - Robots", "  - 42")  # lines 5, 6-8
    article = load_one(write_bytes(tmp_path, "items.md", data))
    assert article.topics == ("Robots",)
    assert [(w.line, w.reason) for w in article.warnings] == [
        (6, "topics: written twice (also line 5): this one is read"),
        (8, "topics: item 2 is an integer, not a name: dropped"),
    ]


@pytest.mark.parametrize(
    ("lines", "line"),
    [
        # a line inside a quoted string that looks like the key
        (["excerpt: 'first", "quality: 5'", "quality: high"], 7),
        # a flow mapping, the key on the mapping's third line
        (
            [
                "{title: T, webUrl: 'https://news.example.com/a',",
                " publishedDateTime: 2021-03-02T12:00:00Z,",
                " quality: high}",
            ],
            4,
        ),
        # an explicit key
        (["? quality", ": high"], 5),
        # written twice: the one read
        (["quality: 80", "published: true", "quality: [high]"], 7),
    ],
    ids=["in-a-string", "flow", "explicit", "twice"],
)
def test_a_problem_is_reported_at_the_line_of_the_key_yaml_reads(
    tmp_path: Path, parser: str, lines: list[str], line: int
) -> None:
    data = fm(*lines) if lines[0].startswith("{") else fm(*BASE, *lines)
    error = error_for(write_bytes(tmp_path, "where.md", data))
    assert error.reason.startswith("quality: must be an integer") or "written twice" in (
        error.reason
    ), error.reason
    assert error.line == line, error


def test_a_problem_in_a_plain_block_file_is_found_without_a_second_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parser's marks are asked for only where a search of the text could name
    another line (most files with a warning are plain block mappings: one parse)."""
    composed: list[str] = []
    compose = yamltext.yaml.compose

    def counted(source: str, Loader: Any) -> Any:
        composed.append(source)
        return compose(source, Loader=Loader)

    monkeypatch.setattr(yamltext.yaml, "compose", counted)
    long_title = "title: " + "A long title " * 40
    plain = fm(long_title, LINK, WHEN, "topics:", "  - AI", "  - ''", "quality: 80")
    article = load_one(write_bytes(tmp_path, "plain.md", plain))
    assert [w.line for w in article.warnings] == [2, 7], article.warnings
    assert composed == []
    quoted = fm(*BASE, "excerpt: 'first", "quality: 5'", "quality: high")
    assert error_for(write_bytes(tmp_path, "quoted.md", quoted)).line == 7
    assert len(composed) == 1


def test_items_of_a_flow_list_are_reported_at_their_own_lines(tmp_path: Path) -> None:
    data = fm(*BASE, "topics: [AI,", '  "",', "  42]")  # lines 5 to 7
    article = load_one(write_bytes(tmp_path, "flow-items.md", data))
    assert [(w.line, w.reason) for w in article.warnings] == [
        (6, "topics: item 2 is empty: dropped"),
        (7, "topics: item 3 is an integer, not a name: dropped"),
    ]


def test_many_keys_written_twice_are_told_ten_then_counted(tmp_path: Path, parser: str) -> None:
    data = fm(*BASE, *(f"extra{n % 40}: {n}" for n in range(4000)))  # lines 5 to 4004
    article = load_one(write_bytes(tmp_path, "many.md", data))
    told = [(w.line, w.reason) for w in article.warnings]
    assert told[:2] == [
        (45, "extra0: written twice (also line 5): this one is read"),
        (46, "extra1: written twice (also line 6): this one is read"),
    ]
    assert len(told) == 11 and told[-1][1] == "3,950 more keys written again"


def test_a_key_written_thousands_of_times_costs_what_as_many_keys_cost(
    tmp_path: Path, parser: str
) -> None:
    """Time measured against the same number of keys, each written once: finding where
    each repeat was first written is no look through the mapping per repeat."""
    count = 10_000
    # (a tag: yaml-rs leaves both files to PyYAML, as it leaves every key written twice)
    keys = ["note: !!str tagged", *(f"k{n}: 1" for n in range(count))]
    once = write_bytes(tmp_path, "once.md", fm(*BASE, *keys, *(f"j{n}: 2" for n in range(count))))
    again = write_bytes(tmp_path, "again.md", fm(*BASE, *keys, *[f"k{count - 1}: 2"] * count))

    def cost(path: Path) -> float:
        start = time.perf_counter()
        load_file(path)
        return time.perf_counter() - start

    baseline = min(cost(once) for _ in range(3))
    repeated = min(cost(again) for _ in range(3))
    assert repeated < 5 * baseline, (repeated, baseline)


def test_a_merge_key_is_no_key_written_twice(tmp_path: Path, parser: str) -> None:
    data = fm(
        *BASE,
        "base: &outlet {name: Shared outlet, domain: shared.example}",
        "provider:",
        "  <<: *outlet",
        "  name: Own outlet",
    )
    article = load_one(write_bytes(tmp_path, "merge.md", data))
    assert article.provider is not None and article.provider.name == "Own outlet"
    assert article.warnings == ()


# --------------------------------------------------------------------------- #
# fields
# --------------------------------------------------------------------------- #


def test_full_article_fields_are_read(tmp_path: Path) -> None:
    article = load_one(write_article(tmp_path, "story.md", n=7))

    assert article.title == "Story number 7"
    assert article.excerpt == "The excerpt of story 7."
    assert article.link == "https://news.example.com/story-7"
    assert article.urls == ("https://news.example.com/story-7",)
    assert article.kind == "article"
    assert article.quality == 80
    assert article.published is True
    assert article.provider is not None
    assert (article.provider.name, article.provider.domain) == ("Example News", "example.com")
    assert article.topics == ("AI",)
    assert [(i.url, i.width, i.height) for i in article.images] == [
        ("https://img.example.com/7.jpg", 800, 450)
    ]
    assert article.published_at == datetime(2021, 3, 8, 12, 0, tzinfo=UTC)


def test_optional_fields_have_defaults(tmp_path: Path) -> None:
    article = load_one(write_bytes(tmp_path, "minimal.md", fm(*BASE)))

    assert article.excerpt == ""
    assert article.quality is None
    assert article.published is False
    assert article.kind == "article"
    assert article.provider is None
    assert article.topics == ()
    assert article.images == ()
    assert article.related == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-03-02T12:00:00Z", datetime(2021, 3, 2, 12, 0, tzinfo=UTC)),
        ("2021-03-02 12:00:00", datetime(2021, 3, 2, 12, 0, tzinfo=UTC)),
        ("2021-03-02T14:30:00+02:00", datetime(2021, 3, 2, 12, 30, tzinfo=UTC)),
        ("2021-03-02T07:00:00-05:00", datetime(2021, 3, 2, 12, 0, tzinfo=UTC)),
        ('"2021-03-02T12:00:00Z"', datetime(2021, 3, 2, 12, 0, tzinfo=UTC)),
        ("'2021-03-02T12:00:00'", datetime(2021, 3, 2, 12, 0, tzinfo=UTC)),
        ('"2021-03-02T14:30:00+02:00"', datetime(2021, 3, 2, 12, 30, tzinfo=UTC)),
        ('"2021-03-03T01:00:00+13:00"', datetime(2021, 3, 2, 12, 0, tzinfo=UTC)),
        ("2021-03-02", datetime(2021, 3, 2, tzinfo=UTC)),
    ],
)
def test_published_datetime_becomes_timezone_aware_utc(
    tmp_path: Path, value: str, expected: datetime
) -> None:
    article = load_one(
        write_bytes(tmp_path, "a.md", fm(TITLE, LINK, f"publishedDateTime: {value}"))
    )

    assert article.published_at == expected
    assert article.published_at.tzinfo is not None
    assert article.published_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_quality_integer_and_published_boolean_are_kept(tmp_path: Path) -> None:
    article = load_one(write_bytes(tmp_path, "a.md", fm(*BASE, "quality: 0", "published: true")))
    assert article.quality == 0
    assert article.published is True

    article = load_one(write_bytes(tmp_path, "b.md", fm(*BASE, "quality: 73", "published: false")))
    assert article.quality == 73
    assert article.published is False


def test_quality_as_a_float_is_refused(tmp_path: Path) -> None:
    error = error_for(write_bytes(tmp_path, "a.md", fm(*BASE, "quality: 80.5")))
    assert error.line == 5
    assert "quality" in error.reason


def test_topics_are_a_list_of_strings(tmp_path: Path) -> None:
    path = write_bytes(
        tmp_path, "a.md", fm(*BASE, "topics:", "  - Computer   Vision", "  - AI", "  - ai")
    )
    assert load_one(path).topics == ("Computer Vision", "AI")


def test_web_url_is_the_link_and_original_url_is_kept_for_dedupe(tmp_path: Path) -> None:
    path = write_bytes(
        tmp_path,
        "a.md",
        fm(TITLE, WHEN, "originalUrl: https://origin.example.com/a", LINK),
    )
    article = load_one(path)
    assert article.link == "https://news.example.com/a-good-story"
    assert "https://origin.example.com/a" in article.urls


def test_video_with_only_original_url_uses_it_as_link(tmp_path: Path) -> None:
    path = write_bytes(
        tmp_path,
        "video.md",
        fm(TITLE, WHEN, "type: video", "originalUrl: https://www.youtube.com/watch?v=abc123"),
    )
    article = load_one(path)
    assert article.kind == "video"
    assert article.link == "https://www.youtube.com/watch?v=abc123"


def test_internationalised_hosts_in_capitals_are_read_in_idna_form(tmp_path: Path) -> None:
    fields = article_fields(
        webUrl="https://Bücher.example/story",
        originalUrl="https://BÜCHER.example/story?utm_source=feed",
        images=[{"url": "https://IMG.例え.テスト/ü.PNG", "width": 800, "height": 450}],
        related=[{"title": "Elsewhere", "webUrl": "https://News.例え.テスト/story"}],
    )
    path = write_bytes(tmp_path, "b.md", front_matter(fields).encode())

    article = load_one(path)

    assert article.link == "https://xn--bcher-kva.example/story"
    assert article.urls == (
        "https://xn--bcher-kva.example/story",
        "https://xn--bcher-kva.example/story?utm_source=feed",
    )
    # one story: the same canonical URL as the all-lower-case spelling
    assert {canonical_url(u) for u in article.urls} == {
        canonical_url("https://bücher.example/story")
    }
    assert [i.url for i in article.images] == ["https://img.xn--r8jz45g.xn--zckzah/%C3%BC.PNG"]
    assert [r.link for r in article.related] == ["https://news.xn--r8jz45g.xn--zckzah/story"]


def test_original_url_with_a_bad_scheme_is_refused(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, "a.md", fm(TITLE, WHEN, "originalUrl: javascript:alert(1)"))
    error = error_for(path)
    assert error.line == 4
    assert "originalUrl" in error.reason


def test_secured_and_unknown_fields_are_ignored(tmp_path: Path) -> None:
    path = write_bytes(
        tmp_path,
        "a.md",
        fm(
            *BASE,
            'secured: "h85DgJHWtnG0SShLnDGlZ7I8rF384GjnE4cmXSUlC2f5=;bJxOO+lhp3YJwCHIIhjFnA=="',
            "heat: -1",
            "somethingNew:",
            "  nested: [1, 2, {deep: true}]",
            "category: news",
        ),
    )
    article = load_one(path)
    assert article.title == "A good title"
    assert not hasattr(article, "secured")


# --------------------------------------------------------------------------- #
# text cleaning
# --------------------------------------------------------------------------- #


def test_excerpt_html_becomes_plain_text(tmp_path: Path) -> None:
    excerpt = (
        "Tom &amp; Jerry &lt;3 <b>bold</b> and <i>italic</i>"
        "<script>alert('pwned')</script><style>p {color: red}</style> end"
    )
    fields = article_fields(excerpt=excerpt)
    path = write_bytes(tmp_path, "a.md", front_matter(fields).encode())

    article = load_one(path)

    assert article.excerpt == "Tom & Jerry <3 bold and italic end"
    assert "alert" not in article.excerpt
    assert "color" not in article.excerpt


def test_entities_in_excerpt_without_tags_are_decoded(tmp_path: Path) -> None:
    fields = article_fields(excerpt="Fish &amp; chips &mdash; &quot;great&quot;")
    article = load_one(write_bytes(tmp_path, "a.md", front_matter(fields).encode()))
    assert article.excerpt == 'Fish & chips \u2014 "great"'


def test_mojibake_in_title_and_excerpt_is_repaired(tmp_path: Path) -> None:
    fields = article_fields(
        title="Baltimoreâ€™s new plan", excerpt="Baltimoreâ€™s mayor said â€œyesâ€\x9d."
    )
    article = load_one(write_bytes(tmp_path, "a.md", front_matter(fields).encode()))
    assert article.title == "Baltimore\u2019s new plan"
    assert article.excerpt.startswith("Baltimore\u2019s mayor")


def test_control_characters_are_removed_from_titles(tmp_path: Path) -> None:
    # written with YAML escapes: raw control characters are not valid YAML text
    path = write_bytes(
        tmp_path,
        "a.md",
        fm('title: "Bell\\x07 null\\x00 escape\\x1b[31m red\\x7f end\\x0b"', LINK, WHEN),
    )
    article = load_one(path)
    assert article.title == "Bell null escape[31m red end"
    assert not any(ord(c) < 32 or ord(c) == 127 for c in article.title)


def test_every_unicode_noncharacter_is_removed_from_text(tmp_path: Path) -> None:
    # U+FDD0 to U+FDEF and the last two code points of each of the 17 planes: 66 in
    # all, none of them valid in HTML; the code points beside them are kept.
    odd = [*range(0xFDD0, 0xFDF0), *(p << 16 | 0xFFFE for p in range(17))]
    odd += [p << 16 | 0xFFFF for p in range(17)]
    assert len(odd) == 66
    kept = "\ufdcf\ufdf0\U0001fffd\U0010fffd"
    escaped = "".join(f"\\U{c:08X}" for c in odd)  # YAML escapes: raw U+FFFE is not YAML
    path = write_bytes(
        tmp_path,
        "a.md",
        fm(f'title: "Odd{escaped} title {kept}"', f'excerpt: "An{escaped} excerpt"', LINK, WHEN),
    )
    article = load_one(path)
    assert article.title == f"Odd title {kept}"
    assert article.excerpt == "An excerpt"


def test_html_tags_in_title_are_removed(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, "a.md", fm('title: "<em>Big</em> news &amp; more"', LINK, WHEN))
    assert load_one(path).title == "Big news & more"


def test_title_made_only_of_markup_counts_as_empty(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, "a.md", fm(LINK, WHEN, 'title: "<b> </b>"'))
    error = error_for(path)
    assert error.line == 4
    assert "title" in error.reason


# --------------------------------------------------------------------------- #
# images and related stubs
# --------------------------------------------------------------------------- #


def test_images_without_a_web_url_are_dropped_but_the_article_loads(tmp_path: Path) -> None:
    images = [
        {"url": "https://img.example.com/ok.jpg", "width": 640, "height": 360, "title": "OK"},
        {"url": "data:image/png;base64,iVBORw0KGgo="},
        {"url": "javascript:alert(1)"},
        {"url": "/relative/path.jpg"},
        {"width": 100},
        {"url": 42},
        "just a string",
        {"url": "http://img.example.com/plain-http.png"},
    ]
    path = write_bytes(tmp_path, "a.md", front_matter(article_fields(images=images)).encode())

    article = load_one(path)

    assert [i.url for i in article.images] == [
        "https://img.example.com/ok.jpg",
        "http://img.example.com/plain-http.png",
    ]
    assert (article.images[0].width, article.images[0].height) == (640, 360)
    assert article.images[0].title == "OK"


def test_related_stubs_without_a_link_are_skipped(tmp_path: Path) -> None:
    related = [
        {
            "title": "Kept via webUrl",
            "webUrl": "https://other.example.com/1",
            "publishedDateTime": "2021-03-01T10:00:00+01:00",
            "provider": {"name": "Other", "domain": "other.example.com"},
        },
        {"title": "No link at all"},
        {"title": "Bad scheme", "webUrl": "javascript:alert(1)"},
        {"title": "Kept via originalUrl", "originalUrl": "https://third.example.com/3"},
        {"webUrl": "https://no-title.example.com/"},
        "not a mapping",
    ]
    path = write_bytes(tmp_path, "a.md", front_matter(article_fields(related=related)).encode())

    article = load_one(path)

    assert [(r.title, r.link) for r in article.related] == [
        ("Kept via webUrl", "https://other.example.com/1"),
        ("Kept via originalUrl", "https://third.example.com/3"),
    ]
    assert article.related[0].published_at == datetime(2021, 3, 1, 9, 0, tzinfo=UTC)
    assert article.related[0].provider is not None
    assert article.related[0].provider.name == "Other"


# --------------------------------------------------------------------------- #
# real files
# --------------------------------------------------------------------------- #


def test_the_project_seeds_all_load() -> None:
    files = find_files([SEEDS], DEFAULT_PATTERNS)
    articles, errors = load_all(files)

    assert len(files) == 5
    assert errors == []
    assert len(articles) == 5
    assert all(a.published_at.tzinfo is not None for a in articles)
    assert all(a.link.startswith(("https://", "http://")) for a in articles)
    assert all(a.topics for a in articles)


def test_the_power_apps_corpus_loads_without_errors(corpus: Path) -> None:
    files = find_files([corpus], DEFAULT_PATTERNS)
    crlf = [f for f in files if b"\r\n" in f.read_bytes()]

    articles, errors = load_all(files)

    assert len(files) == 192
    assert len(crlf) == 57
    assert [str(e) for e in errors] == []
    assert len(articles) == 192
    crlf_paths = {str(f) for f in crlf}
    assert sum(1 for a in articles if a.path in crlf_paths) == 57
    assert all("\r" not in a.title and "\r" not in a.excerpt for a in articles)


# --------------------------------------------------------------------------- #
# failures found while writing these tests
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "value",
    [
        "2021-02-30",  # no 30 February; YAML still reads it as a date
        "2021-13-01T10:00:00Z",  # month 13
        '"0001-01-01T00:00:00+01:00"',  # before year 1 once converted to UTC
    ],
)
def test_impossible_date_is_a_load_error_and_good_files_still_load(
    tmp_path: Path, value: str
) -> None:
    good = write_article(tmp_path, "good.md")
    bad = write_bytes(tmp_path, "bad.md", fm(TITLE, LINK, f"publishedDateTime: {value}"))

    articles, errors = load_folder(tmp_path)

    assert [a.path for a in articles] == [str(good)]
    assert [(e.path, e.line) for e in errors] == [(str(bad), 4)]
    assert "publishedDateTime" in errors[0].reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        # The offset moves the instant out of the years a date-time holds at all.
        (
            "0001-01-01T00:00:00+14:00",
            "year 0 is outside 1000 to 8999 (in UTC: the offset +14:00 moves it out of year 1)",
        ),
        (
            "9999-12-31T23:59:59-14:00",
            "year 10000 is outside 1000 to 8999 (in UTC: the offset -14:00 moves it out of"
            " year 9999)",
        ),
        (
            "9999-12-31T23:59:59.5-00:00:30",
            "year 10000 is outside 1000 to 8999 (in UTC: the offset -00:00:30 moves it out of"
            " year 9999)",
        ),
        # ... or out of the years accepted, from one inside them
        (
            "1000-01-01T00:30:00+01:00",
            "year 999 is outside 1000 to 8999 (in UTC: the offset +01:00 moves it out of"
            " year 1000)",
        ),
        # year 0 is an ISO 8601 year: out of range, not unreadable
        ("0000-01-01T00:00:00Z", "year 0 is outside 1000 to 8999"),
        ("0000-02-29", "year 0 is outside 1000 to 8999"),
    ],
)
@pytest.mark.parametrize("quote", ["", "'"])
def test_a_date_out_of_range_says_so_however_it_is_written(
    tmp_path: Path, value: str, reason: str, quote: str
) -> None:
    good = write_article(tmp_path, "good.md")
    when = f"publishedDateTime: {quote}{value}{quote}"
    bad = write_bytes(tmp_path, "bad.md", fm(TITLE, LINK, when, "published: true"))

    articles, errors = load_folder(tmp_path)

    assert [a.path for a in articles] == [str(good)]
    assert [str(e) for e in errors] == [f"{bad}:4: publishedDateTime: {reason}"]


@pytest.mark.parametrize("quote", ["", "'"])
def test_a_related_stub_date_out_of_range_says_so(tmp_path: Path, quote: str) -> None:
    stub = (
        "related:",
        "  - title: Other",
        "    webUrl: https://o.example.com/",
        f"    publishedDateTime: {quote}0001-01-01T00:00:00+14:00{quote}",
    )
    path = write_bytes(tmp_path, "a.md", fm(*BASE, *stub))

    article = load_one(path)

    assert article.related[0].published_at is None
    assert [str(w) for w in article.warnings] == [
        f"{path}:6: warning: related: item 1: publishedDateTime: year 0 is outside 1000 to"
        " 8999 (in UTC: the offset +14:00 moves it out of year 1): ignored"
    ]


def test_impossible_date_in_a_related_stub_does_not_stop_the_load(tmp_path: Path) -> None:
    bad = write_bytes(
        tmp_path,
        "bad.md",
        fm(
            *BASE,
            "related:",
            "  - title: Other",
            "    webUrl: https://o.example.com/",
            "    publishedDateTime: 2021-02-30",
        ),
    )
    good = write_article(tmp_path, "good.md")

    articles, errors = load_folder(tmp_path)

    assert str(good) in [a.path for a in articles]
    assert len(articles) + len(errors) == 2
    assert str(bad) in [a.path for a in articles] + [e.path for e in errors]


@pytest.mark.e2e
def test_very_deep_nesting_is_reported_without_crashing_the_process(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    write_article(folder, "good.md")
    write_bytes(folder, "deep.md", fm(*BASE, "topics: " + "[" * 100_000))
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from aggregator.config import DEFAULT_PATTERNS\n"
        "from aggregator.sources.loader import find_files, load_all\n"
        "articles, errors = load_all(find_files([Path(sys.argv[1])], DEFAULT_PATTERNS))\n"
        "print('articles', len(articles))\n"
        "for error in errors:\n"
        "    print(error)\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-500:]}"
    assert "articles 1" in done.stdout
    assert f"{folder / 'deep.md'}:" in done.stdout


def test_line_numbers_count_only_real_line_breaks(tmp_path: Path) -> None:
    # A U+2028 LINE SEPARATOR pasted inside a quoted title is one character of
    # line 2 for editors, grep -n and git; the quality error is on line 5.
    data = fm('title: "Part one\u2028part two"', LINK, WHEN, 'quality: "high"')
    error = error_for(write_bytes(tmp_path, "a.md", data))
    assert "quality" in error.reason
    assert error.line == 5


def test_a_quoted_key_error_reports_the_key_line(tmp_path: Path) -> None:
    data = fm('"title": "A title"', '"webUrl": "https://a.example.com/"', WHEN, '"quality": "high"')
    error = error_for(write_bytes(tmp_path, "quoted.md", data))
    assert "quality" in error.reason
    assert error.line == 5


def test_load_file_returns_an_error_for_a_missing_file(tmp_path: Path) -> None:
    result = load_file(tmp_path / "gone.md")
    assert isinstance(result, LoadError)
    assert result.line == 1
    assert result.path == str(tmp_path / "gone.md")
