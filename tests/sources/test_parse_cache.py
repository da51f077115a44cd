"""The parse cache: the words of fingerprints read back for near-duplicate detection."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import pytest
from conftest import write_article

from aggregator.limits import DEFAULT_LIMITS
from aggregator.model import Article
from aggregator.model import Fingerprint
from aggregator.sources import parsecache
from aggregator.sources.loader import load_all
from aggregator.state.codec import decode
from aggregator.state.store import Store
from aggregator.stories.similar import fingerprint


def test_words_read_back_are_the_fingerprints_of_the_files_and_few_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    paths = [
        str(write_article(source, f"{n}.md", n=n, title=f"Story {n} about robots {n * 7}"))
        for n in range(6)
    ]
    monkeypatch.setattr(parsecache, "_WORDS", OrderedDict())
    monkeypatch.setattr(parsecache, "WORDS_KEPT", 3)
    with Store(tmp_path / "state.sqlite") as store:
        parsecache.load_light(paths, store)
        light = [decode(head) for _path, _id, head, _w, _b in store.iter_parsed()]
        articles = [a for a in light if isinstance(a, Article)]
        assert all(a.fingerprint is not None and not a.fingerprint.complete for a in articles)
        loaded, _errors = load_all([Path(p) for p in paths], workers=1)
        whole = {a.path: fingerprint(a) for a in loaded}
        for turn in range(2):  # read from the state file, then from the words kept
            found = parsecache.load_words(store, DEFAULT_LIMITS, articles)
            assert found == [whole[a.path] for a in articles]
            assert all(isinstance(f, Fingerprint) and f.complete for f in found)
            if turn == 0:  # the last three read are kept: the oldest went first
                assert [path for path, _ in parsecache._WORDS] == [a.path for a in articles][-3:]
        assert len(parsecache._WORDS) == 3


def test_texts_kept_cleaned_in_the_process_stay_within_their_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aggregator.sources import loader

    monkeypatch.setattr(loader, "_CLEANED", {})
    monkeypatch.setattr(loader, "_cleaned_size", 0)
    monkeypatch.setattr(loader, "_CLEANED_SIZE", 2_000)
    source = tmp_path / "src"
    for n in range(30):
        excerpt = f"An excerpt of story {n} " + "with many words " * 20
        write_article(source, f"{n}.md", n=n, title=f"Story {n}", excerpt=excerpt)
    loaded, errors = load_all(sorted(source.glob("*.md")), workers=1)
    assert len(loaded) == 30 and not errors
    kept = sum(len(value) + len(found[0]) for (value, _), found in loader._CLEANED.items())
    assert 0 < kept <= 2_000
    assert loaded[0].excerpt.startswith("An excerpt of story 0")


def test_a_build_lets_go_of_the_texts_its_parse_cleaned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build's own process parses beside its workers: the texts it cleaned (several
    MB after a large parse) are let go once the files are loaded, for what follows."""
    from aggregator.sources import loader
    from aggregator.sources import text

    monkeypatch.setattr(loader, "_CLEANED", {})
    source = tmp_path / "src"
    for n in range(30):
        write_article(source, f"{n}.md", n=n, title=f"Story {n} \u00e9t\u00e9")
    paths = [str(p) for p in sorted(source.glob("*.md"))]
    parsecache.parse_chunk(paths[:1])  # what a parse fills, here as in a worker
    assert loader._CLEANED and text._fixed.cache_info().currsize
    with Store(tmp_path / "state.sqlite") as store:
        loaded = parsecache.load_light(paths, store, workers=1)
    assert len(loaded.articles) == 30 and not loaded.errors
    assert {a.title for a in loaded.articles} == {f"Story {n} \u00e9t\u00e9" for n in range(30)}
    assert not loader._CLEANED
    assert text._fixed.cache_info().currsize == 0


def test_parsing_files_keeps_none_of_their_own_urls_in_the_url_cache(tmp_path: Path) -> None:
    """A file's URLs are made canonical once, where it is parsed: a worker that kept
    each answer grew with the corpus (29 MB after 50,000 files, for 14 hits)."""
    from aggregator.state.codec import decode
    from aggregator.stories.urls import canonical_url

    source = tmp_path / "src"
    for n in range(200):
        url = f"https://www.news.example.com/story-{n}/?utm_source=feed&b=2&a=1"
        write_article(source, f"{n}.md", n=n, webUrl=url)
    paths = [str(p) for p in sorted(source.glob("*.md"))]
    canonical_url.cache_clear()
    parsed = parsecache.parse_chunk(paths)
    assert canonical_url.cache_info().currsize == 0
    keys = {}
    for path, (head, words, body), _ in parsed:
        article = decode(head, words, body)
        assert isinstance(article, Article)
        keys[Path(path).stem] = article.keys
    assert keys["7"] == ("https://news.example.com/story-7?a=1&b=2",)
    assert len({k for found in keys.values() for k in found}) == 200


@pytest.mark.parametrize("light", [True, False])
def test_the_cache_lets_go_of_the_rows_of_files_gone_when_it_reads_every_file(
    tmp_path: Path, light: bool
) -> None:
    """A load of the whole corpus drops the rows of files no longer among it (deleted,
    renamed); a load of some files keeps the others' rows. Rows of unchanged files are
    read from the cache, of changed ones written again."""
    source = tmp_path / "src"
    paths = [str(write_article(source, f"{n}.md", n=n, title=f"Story {n}")) for n in range(5)]
    for path in paths:  # written long ago: their rows are taken by size and mtime
        os.utime(path, (1_600_000_000, 1_600_000_000))
    load = parsecache.load_light if light else parsecache.load_cached
    with Store(tmp_path / "state.sqlite") as store:

        def cached() -> list[str]:
            return sorted(path for path, *_ in store.iter_parsed())

        load(paths, store, workers=1)
        assert cached() == sorted(paths)
        Path(paths[0]).unlink()
        renamed = str(Path(paths[1]).rename(source / "renamed.md"))
        # some files only: the rows of the others stay
        load([paths[2]], store, workers=1, whole=False)
        assert cached() == sorted(paths)
        now = [renamed, *paths[2:]]
        load(now, store, workers=1)
        assert cached() == sorted(now)
        load(now, store, workers=1)  # nothing gone: every row stays
        assert cached() == sorted(now)
        # identities of more files than the paths (still there, unchanged): a whole
        # load of some of them drops the others' rows all the same
        known = parsecache.stat_files(now)
        load(now[:1], store, workers=1, identities=known)
        assert cached() == now[:1]


@pytest.mark.parametrize("form", ["relative", "absolute", "working folder"])
def test_the_walk_names_the_folders_of_its_files_as_their_paths_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """The folders the walk gives (which the command and the daemon keep of each build)
    are those found from the paths, whatever form the source folder is written in: a
    folder is compared with the last build's by that name."""
    from aggregator.sources.loader import SOURCE_MARK
    from aggregator.sources.loader import find_paths

    monkeypatch.chdir(tmp_path)
    write_article(tmp_path / "articles", "a.md", n=1)
    write_article(tmp_path / "articles" / "2020" / "05", "b.md", n=2)
    write_article(tmp_path / "articles" / "2021", "c.md", n=3)
    (tmp_path / "articles" / "empty").mkdir()
    (tmp_path / "articles" / "notes").mkdir()
    (tmp_path / "articles" / "notes" / "todo.txt").write_text("not an article", encoding="utf-8")
    source = {
        "relative": "articles",
        "absolute": str(tmp_path / "articles"),
        "working folder": ".",
    }[form]
    if form == "working folder":
        monkeypatch.chdir(tmp_path / "articles")
    found: dict[str, int] = {}
    paths = find_paths([Path(source)], ["*.md"], folders=found)
    assert len(paths) == 3
    folders = {name: n for name, n in found.items() if not name.startswith(SOURCE_MARK)}
    assert set(folders) == {parsecache.folder_of(path) for path in paths}
    # (as the parent lists it, or stat'ed: the same number here)
    assert parsecache.folder_identities(paths) == folders
    # and the folders of the source's real path below its mount point, and how many
    named = "" if source == "." else source
    real = Path(source).resolve()
    below = []
    for folder in [real, *real.parents]:
        if os.path.ismount(folder):
            break
        below.append(folder)
    below.reverse()
    numbers = [found[f"{SOURCE_MARK}{named}{SOURCE_MARK}{depth}"] for depth in range(len(below))]
    assert numbers == [os.stat(folder).st_ino for folder in below]
    assert found[f"{SOURCE_MARK}{named}{SOURCE_MARK}"] == len(below) > 0
    assert len(found) == len(folders) + len(below) + 1


def test_folders_are_numbered_as_their_parents_list_them(tmp_path: Path) -> None:
    """`listed_inodes` (the daemon's, for the folders it lists again) gives the numbers
    the walk gives: here, as `stat` does; -1 for a folder that is not there."""
    from aggregator.sources.loader import listed_inodes

    for name in ("a", "b", "a/c"):
        (tmp_path / name).mkdir()
    folders = [str(tmp_path / name) for name in ("a", "b", "a/c", "gone")]
    expected = [os.stat(folder).st_ino for folder in folders[:3]] + [-1]
    assert listed_inodes(folders) == dict(zip(folders, expected, strict=True))
