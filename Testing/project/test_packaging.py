"""Extension packaging: what the Slicer Extensions Index checks before it accepts the extension.

The index (github.com/Slicer/ExtensionsIndex) runs ``scripts/check_description_files.py`` on a
submitted ``<ExtensionName>.json``. Read at ExtensionsIndex main 07f1d1b (2026-08-07) and on its
``5.10`` branch 13fc22f, it:

* clones ``scm_url`` (a full clone when ``scm_revision`` is set, else ``--depth 1``) and refuses a
  clone over 100 MB, counting every file under the clone folder, ``.git`` included (main only;
  the 5.10 branch does not run the size check yet);
* validates the JSON against the ``$schema`` it names (Slicer's catalog-entry schema v1.0.1), and
  wants LF-only line endings;
* wants the extension name (the file name) not to start with ``Slicer``, the repository name to start
  with ``Slicer``, a known category, an ``https``/``git`` ``scm_url``;
* reads the repository's top-level CMakeLists.txt: ``project(<name>)`` equal to the file name, and
  ``set(EXTENSION_ICONURL "...")`` / ``set(EXTENSION_SCREENSHOTURLS "...")`` whose URLs it downloads and
  accepts only as ``image/png``, ``image/jpeg`` or ``image/gif`` (or an octet-stream whose URL ends in
  an image extension);
* wants a licence file at the repository root (``LICENSE``, ``LICENCE``, ``License.txt``, ...);
* wants every ``build_dependencies`` entry to be another description file in the index.

What needs the network (downloading the schema and the images, the GitHub ``3d-slicer-extension``
topic, cloning from GitHub) is not done here. These tests check the same rules offline, with our own
code, against this checkout: the images must be tracked files at the paths the raw URLs name.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
import urllib.parse
import warnings
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTENSION_NAME = "GANSynthesis"
DESCRIPTION = ROOT / "Resources" / "ExtensionsIndex" / f"{EXTENSION_NAME}.json"
SIZE_LIMIT_MB = 100.0  # check_repository_size: size_limit_mb = 100, in MiB (bytes / 1024 / 1024)
MB = 1024 * 1024

# SHA-256 of the Apache License 2.0 text as apache.org publishes it (LICENSE-2.0.txt, 11358 bytes,
# appendix left as a template), the same bytes as Debian's /usr/share/common-licenses/Apache-2.0.
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
LICENSE_NAMES = ["LICENSE", "LICENCE", "License.txt", "license.txt", "LICENSE.txt", "COPYING", "COPYING.txt"]

SCHEMA_URL = "https://raw.githubusercontent.com/Slicer/Slicer/main/Schemas/slicer-extension-catalog-entry-schema-v1.0.1.json#"
# Slicer's catalog-entry schema v1.0.1: required keys, and the only keys allowed (additionalProperties: false).
SCHEMA_REQUIRED = {"$schema", "category", "scm_url"}
SCHEMA_TYPES = {
    "$schema": str, "category": str, "scm_url": str, "scm_revision": str, "scm_type": str,
    "build_dependencies": list, "build_subdirectory": str, "enabled": bool, "tier": int,
}
# Some of the checker's ACCEPTED_EXTENSION_CATEGORIES (all present on the index's main and 5.10 branches).
ACCEPTED_CATEGORIES = {"Image Synthesis", "Segmentation", "Filtering", "Quantification", "Analysis", "Utilities"}
# Extensions we depend on that have a description file in the index (PyTorch.json on main and 5.10).
INDEX_EXTENSIONS = {"PyTorch"}
REPOSITORY_PREFIXES = ("Slicer", "Slicer-", "Slicer_", "SlicerExtension-", "SlicerExtension_")
IMAGE_SIGNATURES = {".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff", ".jpeg": b"\xff\xd8\xff", ".gif": b"GIF8"}


# --------------------------------------------------------------------------- helpers


def cmake_metadata(text: str) -> dict[str, str]:
    """``project()`` name and each ``set(EXTENSION_* "value")`` of a top-level CMakeLists.txt.

    Only the form the index's checker reads is accepted: one quoted string closed on the same call.
    For EXTENSION_SCREENSHOTURLS the checker wants ``")`` with nothing in between, so that is required here too.
    """
    text = re.sub(r"#[^\n]*", "", text)  # comments
    found: dict[str, str] = {}
    project = re.search(r"^\s*project\s*\(\s*([A-Za-z0-9_.+-]+)", text, re.IGNORECASE | re.MULTILINE)
    if project:
        found["project"] = project.group(1)
    for match in re.finditer(r"set\s*\(\s*(EXTENSION_[A-Z]+)\s*\"([^\"]*)\"(\s*)\)", text, re.IGNORECASE):
        name, value, space = match.group(1).upper(), match.group(2), match.group(3)
        if name == "EXTENSION_SCREENSHOTURLS" and space:
            continue  # the checker's pattern would not see it
        found.setdefault(name, value.strip())
    return found


def png_header(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from a PNG's IHDR chunk; raises ValueError if it is not a PNG."""
    if not data.startswith(IMAGE_SIGNATURES[".png"]):
        raise ValueError("no PNG signature")
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise ValueError("first chunk is not IHDR")
    body, crc = data[16:29], struct.unpack(">I", data[29:33])[0]
    if zlib.crc32(b"IHDR" + body) != crc:
        raise ValueError("IHDR CRC mismatch")
    width, height, depth, colour = struct.unpack(">IIBB", body[:10])
    if width == 0 or height == 0:
        raise ValueError("empty image")
    if b"IEND" not in data[-12:]:
        raise ValueError("truncated: no IEND chunk at the end")
    return width, height, depth, colour


def raw_url_to_path(url: str, owner: str, repo: str, branch: str) -> str:
    """The repository path a ``raw.githubusercontent.com/<owner>/<repo>/<branch>/<path>`` URL serves."""
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == "raw.githubusercontent.com", f"{url}: not a raw GitHub URL"
    segments = parts.path.lstrip("/").split("/")
    assert segments[:3] == [owner, repo, branch], f"{url}: not served from {owner}/{repo} branch {branch}"
    return urllib.parse.unquote("/".join(segments[3:]))


def _git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], input=input, capture_output=True, check=True).stdout


def tracked_files(repo: Path) -> list[str]:
    return [p for p in _git(repo, "ls-files", "-z").decode().split("\0") if p]


def checkout_size(repo: Path) -> dict[str, int]:
    """Bytes a clone of ``repo``'s HEAD would hold, the way the index counts them (every file in the clone).

    ``worktree``: the tracked files as they are in this working tree (untracked and ignored files are
    not in a clone). ``history``: the stored (compressed) size of every object reachable from HEAD,
    which is what a full clone's ``.git`` pack holds (a close estimate: a fresh pack may delta a little better).
    """
    worktree = 0
    for name in tracked_files(repo):
        path = repo / name
        if path.is_file() and not path.is_symlink():
            worktree += path.stat().st_size
    objects = b"\n".join(line.split(b" ", 1)[0] for line in _git(repo, "rev-list", "--objects", "HEAD").splitlines())
    sizes = _git(repo, "cat-file", "--batch-check=%(objectsize:disk)", input=objects + b"\n").split()
    return {"worktree": worktree, "history": sum(int(s) for s in sizes)}


def over_limit(size: dict[str, int], limit_mb: float | None = None) -> bool:
    return (size["worktree"] + size["history"]) / MB > (SIZE_LIMIT_MB if limit_mb is None else limit_mb)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def description() -> dict:
    return json.loads(DESCRIPTION.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cmake() -> dict[str, str]:
    return cmake_metadata((ROOT / "CMakeLists.txt").read_text(encoding="utf-8"))


def github_owner_repo(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url.strip().rstrip("/"))
    segments = parts.path.strip("/").split("/")
    assert parts.netloc == "github.com" and len(segments) == 2, f"{url}: not https://github.com/<owner>/<repo>"
    owner, repo = segments
    return owner, repo.removesuffix(".git")


# --------------------------------------------------------------------------- licence


def test_license_file_at_root_is_apache_2():
    found = [name for name in LICENSE_NAMES if (ROOT / name).is_file()]
    assert found, f"no licence file at the repository root (the index looks for {LICENSE_NAMES})"
    assert "LICENSE" in tracked_files(ROOT), "LICENSE is not tracked by git, so a clone would not have it"
    data = (ROOT / "LICENSE").read_bytes()
    text = data.decode("utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert hashlib.sha256(data).hexdigest() == APACHE_2_SHA256, "LICENSE is not the verbatim Apache License 2.0 text"


def test_pyproject_declares_the_same_license():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in Python 3.11 and later")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    license_field = project["license"]
    declared = license_field["text"] if isinstance(license_field, dict) else license_field
    assert declared == "Apache-2.0"


# --------------------------------------------------------------------------- description file


def test_description_file_format():
    raw = DESCRIPTION.read_bytes()
    assert b"\r" not in raw, "the index wants LF-only line endings"
    assert b"\t" not in raw, "the index's lint forbids tabs"
    data = json.loads(raw)
    # The index formats its JSON with prettier (2 spaces, arrays always one item a line, final newline).
    assert raw.decode("utf-8") == json.dumps(data, indent=2) + "\n"


def test_description_file_matches_the_schema(description):
    assert DESCRIPTION.stem == EXTENSION_NAME
    assert description["$schema"] == SCHEMA_URL
    missing = SCHEMA_REQUIRED - description.keys()
    assert not missing, f"required by the schema: {sorted(missing)}"
    unknown = description.keys() - SCHEMA_TYPES.keys()
    assert not unknown, f"the schema allows no other keys: {sorted(unknown)}"
    for key, value in description.items():
        expected = SCHEMA_TYPES[key]
        assert isinstance(value, expected) and not (expected is int and isinstance(value, bool)), f"{key}: {value!r}"
    assert all(isinstance(item, str) and item for item in description.get("build_dependencies", []))
    assert 1 <= description.get("tier", 1) <= 5
    assert description.get("scm_type", "git") in {"git", "local"}
    assert description.get("build_subdirectory", ".") == "."  # not a superbuild


def test_description_file_passes_the_name_and_url_checks(description):
    assert not EXTENSION_NAME.lower().startswith("slicer"), "the extension name must not start with Slicer"
    assert description["category"] in ACCEPTED_CATEGORIES, f"category {description['category']!r} is not accepted"
    scm_url = description["scm_url"]
    assert "://" in scm_url and urllib.parse.urlsplit(scm_url).scheme in {"https", "git"}
    owner, repo = github_owner_repo(scm_url)
    assert repo.startswith(REPOSITORY_PREFIXES), f"repository name {repo!r} must start with Slicer"
    assert description["scm_revision"] == "main"  # the branch the icon and screenshot URLs are served from
    unknown = set(description["build_dependencies"]) - INDEX_EXTENSIONS
    assert not unknown, f"not known to be in the Extensions Index: {sorted(unknown)}"


def test_description_file_matches_cmakelists(description, cmake):
    assert cmake.get("project") == EXTENSION_NAME, "project() must be named as the description file"
    for key in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION",
                "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS", "EXTENSION_DEPENDS"):
        assert cmake.get(key), f"CMakeLists.txt: set({key} \"...\") missing or in a form the index cannot read"
    assert cmake["EXTENSION_CATEGORY"] == description["category"], "EXTENSION_CATEGORY != category"
    depends = [] if cmake["EXTENSION_DEPENDS"] == "NA" else cmake["EXTENSION_DEPENDS"].split()
    assert sorted(depends) == sorted(description["build_dependencies"]), "EXTENSION_DEPENDS != build_dependencies"
    assert github_owner_repo(cmake["EXTENSION_HOMEPAGE"]) == github_owner_repo(description["scm_url"])
    assert 20 <= len(cmake["EXTENSION_DESCRIPTION"]) <= 400, "1-2 sentences, as the index's checklist asks"


# --------------------------------------------------------------------------- icon and screenshots


def _image_urls(cmake) -> list[tuple[str, str]]:
    return [("EXTENSION_ICONURL", cmake["EXTENSION_ICONURL"])] + [
        ("EXTENSION_SCREENSHOTURLS", url) for url in cmake["EXTENSION_SCREENSHOTURLS"].split()]


def test_icon_and_screenshot_urls_serve_tracked_images(description, cmake):
    owner, repo = github_owner_repo(description["scm_url"])
    tracked = set(tracked_files(ROOT))
    urls = _image_urls(cmake)
    assert len(urls) >= 2, "an icon and at least one screenshot"
    for variable, url in urls:
        path = raw_url_to_path(url, owner, repo, description["scm_revision"])
        suffix = Path(path).suffix.lower()
        # raw.githubusercontent.com sends the Content-Type of the file name's extension.
        assert suffix in IMAGE_SIGNATURES, f"{variable} {url}: not a .png/.jpg/.gif URL"
        assert path in tracked, f"{variable} {url}: {path} is not a tracked file of this repository"
        data = (ROOT / path).read_bytes()
        assert data.startswith(IMAGE_SIGNATURES[suffix]), f"{path}: content is not {suffix}"


def test_icon_is_a_128_pixel_square_png(cmake, description):
    owner, repo = github_owner_repo(description["scm_url"])
    path = ROOT / raw_url_to_path(cmake["EXTENSION_ICONURL"], owner, repo, description["scm_revision"])
    data = path.read_bytes()
    width, height, _, _ = png_header(data)
    assert (width, height) == (128, 128), f"{path.name}: {width}x{height}, the catalog shows a 128x128 icon"
    assert len(data) < 200 * 1024, f"{path.name}: {len(data)} bytes for an icon"


def test_screenshots_are_readable_pngs_of_sensible_size(cmake, description):
    owner, repo = github_owner_repo(description["scm_url"])
    for _, url in _image_urls(cmake)[1:]:
        path = ROOT / raw_url_to_path(url, owner, repo, description["scm_revision"])
        data = path.read_bytes()
        width, height, _, _ = png_header(data)
        assert 400 <= max(width, height) <= 4096 and min(width, height) >= 200, f"{path.name}: {width}x{height}"
        assert len(data) <= 5 * MB, f"{path.name}: {len(data) / MB:.1f} MB"


def test_png_header_refuses_broken_files():
    icon = (ROOT / "Resources" / "GANSynthesis.png").read_bytes()
    assert png_header(icon)[:2] == (128, 128)
    with pytest.raises(ValueError):
        png_header(b"GIF89a" + icon[6:])
    with pytest.raises(ValueError):
        png_header(icon[:19] + bytes([icon[19] ^ 0x40]) + icon[20:])  # width changed: IHDR CRC mismatch
    with pytest.raises(ValueError):
        png_header(icon[: len(icon) // 2])  # truncated


def test_cmake_metadata_reads_only_what_the_checker_reads():
    text = '''project(Demo)
set(EXTENSION_ICONURL "https://x/icon.png" )
# set(EXTENSION_CATEGORY "Commented")
set(EXTENSION_SCREENSHOTURLS "https://x/a.png https://x/b.png" )
'''
    meta = cmake_metadata(text)
    assert meta["project"] == "Demo" and meta["EXTENSION_ICONURL"] == "https://x/icon.png"
    assert "EXTENSION_CATEGORY" not in meta
    assert "EXTENSION_SCREENSHOTURLS" not in meta  # space before ')': the checker finds no screenshots
    assert cmake_metadata('set(EXTENSION_SCREENSHOTURLS "a.png b.png")')["EXTENSION_SCREENSHOTURLS"] == "a.png b.png"


def test_raw_url_mapping():
    url = "https://raw.githubusercontent.com/o/SlicerX/main/Resources/Screenshots/panel%20one.png"
    assert raw_url_to_path(url, "o", "SlicerX", "main") == "Resources/Screenshots/panel one.png"
    with pytest.raises(AssertionError):
        raw_url_to_path(url, "o", "SlicerX", "release")
    with pytest.raises(AssertionError):
        raw_url_to_path("https://github.com/o/SlicerX/blob/main/a.png", "o", "SlicerX", "main")


# --------------------------------------------------------------------------- size of the clone


def test_checked_out_repository_stays_under_100_mb():
    size = checkout_size(ROOT)
    worktree_mb, history_mb = size["worktree"] / MB, size["history"] / MB
    total = worktree_mb + history_mb
    message = (f"a full clone would hold {total:.1f} MB (tracked files {worktree_mb:.1f} MB + .git history "
               f"{history_mb:.1f} MB); the Extensions Index refuses over {SIZE_LIMIT_MB:.0f} MB, "
               f"margin {SIZE_LIMIT_MB - total:.1f} MB")
    print(message)
    assert not over_limit(size), message
    if total > 0.9 * SIZE_LIMIT_MB:
        warnings.warn(UserWarning(message + ": every re-trained weight file committed stays in the history"))


def test_checkout_size_counts_tracked_files_and_history(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    rng = __import__("random").Random(0)
    (repo / "weights.bin").write_bytes(rng.randbytes(300_000))  # incompressible, like model weights
    subprocess.run([*git, "add", "weights.bin"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    first = checkout_size(repo)
    assert first["worktree"] == 300_000
    assert first["history"] >= 290_000  # random bytes do not compress

    (repo / "weights.bin").write_bytes(rng.randbytes(300_000))  # re-trained: the old blob stays in history
    (repo / "untracked.bin").write_bytes(b"x" * 500_000)  # not in a clone
    subprocess.run([*git, "commit", "-q", "-am", "two"], check=True)
    second = checkout_size(repo)
    assert second["worktree"] == 300_000
    assert second["history"] >= first["history"] + 290_000

    assert not over_limit(second, limit_mb=1.0)
    assert over_limit(second, limit_mb=0.5)  # 0.3 MB tracked + ~0.6 MB history
