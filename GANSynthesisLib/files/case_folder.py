"""The cases of an input folder: its image files and DICOM series sub-folders, each with a name."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..core.errors import GANSynthesisError
from .image_files import IMAGE_FILE_SUFFIXES, image_file_suffix


def image_cases(folder: Path) -> list[tuple[str, Path]]:
    """(case name, path) for each image file and each sub-folder (a DICOM series) of ``folder``, hidden ones
    excepted; cases of one name in two formats are told apart by their format (case_nii_gz, case_nrrd)."""
    if not folder.is_dir():
        raise GANSynthesisError(f"Input folder not found: {folder}.")
    cases = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):  # hidden: another run's temporary or lock file, or not a case
            continue
        suffix = image_file_suffix(path.name)
        if suffix:
            cases.append((path.name[: -len(suffix)], path))
        elif path.is_dir():
            cases.append((path.name, path))
    if not cases:
        raise GANSynthesisError(f"No images ({', '.join(IMAGE_FILE_SUFFIXES)}) or DICOM folders in {folder}.")
    shared = Counter(name for name, _ in cases)  # case.nii.gz beside case.nrrd: each named after its format too
    cases = [(f"{name}_{path.name[len(name):].lstrip('.').replace('.', '_')}" if shared[name] > 1 and path.is_file()
              else name, path) for name, path in cases]
    clashes = sorted(name for name, count in Counter(name for name, _ in cases).items() if count > 1)
    if clashes:
        raise GANSynthesisError(f"Several cases in {folder} would share the output name(s) {', '.join(clashes)}; "
                                "rename them so each case has its own name.")
    return cases
