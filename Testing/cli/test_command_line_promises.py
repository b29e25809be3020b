"""The tool's promises, tried as a hostile user would: bad input → exit status 2 and one ``error:`` line, no output
or temporary file left behind, the inputs never changed, nothing overwritten without ``--overwrite``, broken or
tampered bundles refused without disabling the others, concurrent runs and signals handled.

Most cases run the command line in this process (the same ``main`` as ``python -m GANSynthesisLib``) over tiny
volumes; concurrency and signals run real child processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from GANSynthesisLib.cli import main
from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.files.output_set import OutputSet
from GANSynthesisLib.models.registry import USER_MODELS_ENV

from support import CT_VALUES, ROOT, heart_labels


def write_image(array: np.ndarray, path: Path, spacing=(2.0, 2.0, 2.0), direction=None) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    if direction is not None:
        image.SetDirection(direction)
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


def write_raw_nrrd(array: np.ndarray, path: Path, directions: str) -> Path:
    """An NRRD file written by hand, so that it can hold a geometry SimpleITK would refuse to write."""
    k, j, i = array.shape
    header = (f"NRRD0004\ntype: uint16\ndimension: 3\nspace: left-posterior-superior\nsizes: {i} {j} {k}\n"
              f"space directions: {directions}\nkinds: domain domain domain\nendian: little\nencoding: raw\n"
              "space origin: (0,0,0)\n\n")
    path.write_bytes(header.encode() + array.astype("<u2").tobytes())
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Tiny input files, good and hostile, shared by the table's cases (which must never change them)."""
    folder = tmp_path_factory.mktemp("inputs")
    paths = {
        "labels": write_image(heart_labels(), folder / "labels.nii.gz"),
        "ct": write_image(CT_VALUES, folder / "ct.nii.gz"),
        "huge_spacing": write_image(heart_labels(), folder / "huge.nii.gz", (1e9, 1e9, 1e9)),
        "tiny_spacing": write_image(heart_labels(), folder / "tiny.nii.gz", (1e-9, 1e-9, 1e-9)),
        "sheared": write_raw_nrrd(heart_labels(), folder / "sheared.nrrd", "(2,0,0) (1,2,0) (0,0,2)"),
        "singular": write_raw_nrrd(heart_labels(), folder / "singular.nrrd", "(2,0,0) (2,0,0) (0,0,2)"),
        "corner": write_image(np.pad(np.ones((1, 1, 1), np.uint8), ((0, 3), (0, 15), (0, 15))), folder / "corner.nii.gz"),
        "scores": folder / "scores.csv",
    }
    paths["scores"].write_text("slice,anomaly_score\n0,1\n")
    for name, index in (("nan_nifti", np.nan), ("inf_nifti", np.inf)):
        values = CT_VALUES.copy()
        values[1, 2, 3] = index
        paths[name] = write_image(values, folder / f"{name}.nii")
        paths[name + "_gz"] = write_image(values, folder / f"{name}.nii.gz")
        paths[name + "_nrrd"] = write_image(values, folder / f"{name}.nrrd")
    whole = paths["ct"].read_bytes()
    paths["truncated"] = folder / "truncated.nii.gz"
    paths["truncated"].write_bytes(whole[: len(whole) // 2])
    raw = folder / "ct_raw.nii"
    write_image(CT_VALUES, raw)
    paths["truncated_raw"] = folder / "truncated_raw.nii"
    paths["truncated_raw"].write_bytes(raw.read_bytes()[:-100])
    nrrd = write_image(CT_VALUES, folder / "ct.nrrd")
    paths["truncated_nrrd"] = folder / "truncated.nrrd"
    paths["truncated_nrrd"].write_bytes(nrrd.read_bytes()[: nrrd.stat().st_size // 2])
    paths["link_to_labels"] = folder / "link.nii.gz"
    paths["link_to_labels"].symlink_to(paths["labels"])
    cases = folder / "cases"
    cases.mkdir()
    write_image(heart_labels(), cases / "case.nii.gz")
    write_image(heart_labels(), cases / "case.nrrd")
    paths["cases"] = cases
    return paths


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) with the SHA-256 of its content."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*")) if not p.is_symlink()}


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """The command line's exit status, standard output and standard error, run in this process."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exit:  # argparse refusing an option
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err


# (id, command with {input} names and {out} for a fresh output folder, expected status, fragment of the error line,
#  files that must not exist afterwards)
TABLE = [
    # 1. data loss: an output that is the input, even with --overwrite
    ("output-is-input", ["synthesize", "-i", "{labels}", "-o", "{labels}", "--overwrite"], 2, "is the input", []),
    ("output-links-to-input", ["synthesize", "-i", "{labels}", "-o", "{link_to_labels}", "--overwrite"], 2,
     "is the input", []),
    ("segmentation-is-input", ["anomaly", "-i", "{ct}", "-o", "{out}/heat.nii.gz", "--segmentation", "{ct}",
                               "--overwrite"], 2, "is the input", ["{out}/heat.nii.gz"]),
    ("two-outputs-one-file", ["anomaly", "-i", "{ct}", "-o", "{out}/heat.nii.gz", "--segmentation",
                              "{out}/heat.nii.gz"], 2, "same file", ["{out}/heat.nii.gz"]),
    ("batch-output-is-input-dir", ["batch", "synthesize", "--input-dir", "{cases}", "--output-dir", "{cases}"], 2,
     "input folder", []),
    ("batch-output-inside-input-dir", ["batch", "synthesize", "--input-dir", "{cases}", "--output-dir",
                                       "{cases}/results"], 2, "input folder", ["{cases}/results"]),
    # 3. corrupt inputs
    ("truncated-nii-gz", ["translate", "-i", "{truncated}", "-o", "{out}/x.nii.gz"], 2, "ends early",
     ["{out}/x.nii.gz"]),
    ("truncated-nii", ["translate", "-i", "{truncated_raw}", "-o", "{out}/x.nii.gz"], 2, "truncated",
     ["{out}/x.nii.gz"]),
    ("truncated-nrrd", ["translate", "-i", "{truncated_nrrd}", "-o", "{out}/x.nii.gz"], 2, "ends early",
     ["{out}/x.nii.gz"]),
    ("nan-in-nii", ["translate", "-i", "{nan_nifti}", "-o", "{out}/x.nii.gz"], 2, "non-finite", ["{out}/x.nii.gz"]),
    ("nan-in-nii-gz", ["translate", "-i", "{nan_nifti_gz}", "-o", "{out}/x.nii.gz"], 2, "non-finite",
     ["{out}/x.nii.gz"]),
    ("inf-in-nii-gz", ["anomaly", "-i", "{inf_nifti_gz}", "-o", "{out}/x.nii.gz"], 2, "non-finite",
     ["{out}/x.nii.gz"]),
    ("nan-in-nrrd", ["translate", "-i", "{nan_nifti_nrrd}", "-o", "{out}/x.nii.gz"], 2, "non-finite",
     ["{out}/x.nii.gz"]),
    ("nan-in-evaluate", ["evaluate", "--synthetic", "{nan_nifti_gz}", "--reference", "{ct}"], 2, "non-finite", []),
    # 6. late failures: unwritable outputs found before computing, and no heatmap left by a bad --scores
    ("parent-is-a-file", ["synthesize", "-i", "{labels}", "-o", "{labels}/x.nii.gz"], 2, "is not a folder", []),
    ("output-is-a-folder", ["synthesize", "-i", "{labels}", "-o", "{out}/folder.nii.gz"], 2, "is a folder", []),
    ("output-in-proc", ["synthesize", "-i", "{labels}", "-o", "/proc/gansynthesis.nii.gz"], 2, "Cannot write", []),
    ("anomaly-scores-parent-is-file", ["anomaly", "-i", "{ct}", "-o", "{out}/heat.nii.gz", "--segmentation",
                                       "{out}/seg.nii.gz", "--scores", "{labels}/scores.csv"], 2, "is not a folder",
     ["{out}/heat.nii.gz", "{out}/seg.nii.gz"]),
    ("anomaly-scores-exist", ["anomaly", "-i", "{ct}", "-o", "{out}/heat.nii.gz", "--scores", "{scores}"], 2,
     "already exists", ["{out}/heat.nii.gz"]),
    # 7. tracebacks turned into error lines
    ("huge-spacing", ["synthesize", "-i", "{huge_spacing}", "-o", "{out}/x.nii.gz"], 2, "spacing", ["{out}/x.nii.gz"]),
    ("tiny-spacing", ["translate", "-i", "{tiny_spacing}", "-o", "{out}/x.nii.gz"], 2, "spacing", ["{out}/x.nii.gz"]),
    ("batch-suffix-not-an-image", ["batch", "synthesize", "--input-dir", "{cases}", "--output-dir", "{out}/b",
                                   "--suffix", ".txt"], 2, "--suffix", []),
    ("batch-output-dir-is-file", ["batch", "synthesize", "--input-dir", "{cases}", "--output-dir", "{labels}"], 2,
     "is a file", []),
    ("phantom-size-0", ["phantom", "-o", "{out}/ph", "--size", "0", "16", "4"], 2, "at least 1", ["{out}/ph"]),
    ("phantom-spacing-0", ["phantom", "-o", "{out}/ph", "--spacing", "0", "2", "2"], 2, "positive", ["{out}/ph"]),
    ("phantom-into-a-file", ["phantom", "-o", "{labels}", "--size", "16", "16", "4"], 2, "is a file", []),
    # 8. nonsense refused
    ("batch-size-0", ["synthesize", "-i", "{labels}", "-o", "{out}/x.nii.gz", "--batch-size", "0"], 2, "at least 1",
     ["{out}/x.nii.gz"]),
    ("batch-size-negative", ["batch", "synthesize", "--input-dir", "{cases}", "--output-dir", "{out}/b",
                             "--batch-size", "-5"], 2, "at least 1", ["{out}/b"]),
    ("labels-empty", ["synthesize", "-i", "{labels}", "-o", "{out}/x.nii.gz", "--labels", ",,,"], 2, "no entries",
     ["{out}/x.nii.gz"]),
    ("labels-name-twice", ["synthesize", "-i", "{labels}", "-o", "{out}/x.nii.gz", "--labels", "LV=500,lv=205"], 2,
     "twice", ["{out}/x.nii.gz"]),
    ("labels-two-names-one-value", ["synthesize", "-i", "{labels}", "-o", "{out}/x.nii.gz", "--labels",
                                    "left ventricle=500,right ventricle=500"], 2, "both", ["{out}/x.nii.gz"]),
    ("labels-synonyms-of-one-label", ["synthesize", "-i", "{labels}", "-o", "{out}/x.nii.gz", "--labels",
                                      "lv=500,left ventricle=205"], 2, "both mean", ["{out}/x.nii.gz"]),
    ("models-bogus-task", ["models", "--task", "bogus"], 2, "Unknown task", []),
    ("evaluate-undefined-metrics", ["evaluate", "--synthetic", "{ct}", "--reference", "{ct}", "--mask", "{corner}",
                                    "--json"], 2, "undefined", []),
    ("non-orthogonal-direction", ["synthesize", "-i", "{sheared}", "-o", "{out}/x.nii.gz"], 2, "not orthonormal",
     ["{out}/x.nii.gz"]),
    ("singular-direction", ["synthesize", "-i", "{singular}", "-o", "{out}/x.nii.gz"], 2, "matrix is singular",
     ["{out}/x.nii.gz"]),
]


@pytest.mark.parametrize("argv, status, fragment, absent", [case[1:] for case in TABLE], ids=[c[0] for c in TABLE])
def test_hostile_command_is_refused_with_one_error_line_and_changes_nothing(argv, status, fragment, absent, inputs,
                                                                           tmp_path, capsys):
    (tmp_path / "folder.nii.gz").mkdir()
    names = {key: str(value) for key, value in inputs.items()} | {"out": str(tmp_path)}
    inputs_before, outputs_before = snapshot(inputs["labels"].parent), snapshot(tmp_path)
    code, out, err = run([part.format(**names) for part in argv], capsys)
    assert code == status, err
    error_lines = [line for line in err.splitlines() if line.startswith("error:") or ": error: " in line]
    assert len(error_lines) == 1 and fragment in error_lines[0], err  # argparse's own line names the program first
    assert "Traceback" not in err
    assert snapshot(inputs["labels"].parent) == inputs_before  # no input changed, nothing added beside them
    assert snapshot(tmp_path) == outputs_before  # no output, no temporary or lock file
    for path in absent:
        assert not Path(path.format(**names)).exists()


def test_mapped_label_value_with_no_voxel_is_warned(inputs, tmp_path, capsys):
    code, _, err = run(["synthesize", "-i", inputs["labels"], "-o", tmp_path / "x.nii.gz", "--labels",
                        "left ventricle=500,myocardium=205,right ventricle=7", "-q"], capsys)
    assert code == 0 and "warning: no voxel has the mapped label value(s) 7" in err


def test_evaluate_json_is_strict_json(inputs, capsys):
    code, out, _ = run(["evaluate", "--synthetic", inputs["ct"], "--reference", inputs["ct"], "--json"], capsys)
    assert code == 0 and json.loads(out, parse_constant=pytest.fail)["psnr"] is None  # identical: infinite PSNR


def test_batch_names_cases_of_two_formats_apart_and_keeps_going(inputs, tmp_path, capsys):
    cases = tmp_path / "cases"
    shutil.copytree(inputs["cases"], cases)
    (cases / "broken.nii.gz").write_bytes(inputs["truncated"].read_bytes())
    (cases / "z_sheared.nrrd").write_bytes(inputs["sheared"].read_bytes())
    code, out, err = run(["batch", "synthesize", "--input-dir", cases, "--output-dir", tmp_path / "out"], capsys)
    assert code == 2 and "error: 2 of 4 cases failed" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["case_nii_gz_synthetic_ct.nii.gz",
                                                                    "case_nrrd_synthetic_ct.nii.gz"]
    code, out, _ = run(["batch", "synthesize", "--input-dir", cases, "--output-dir", tmp_path / "out"], capsys)
    assert out.count("skipped") == 2  # a rerun finds both done, neither taken for the other


def test_batch_reports_an_unexpected_failure_for_its_case_and_runs_the_others(inputs, tmp_path, capsys, monkeypatch):
    from GANSynthesisLib.tasks import run_to_files

    real_read = run_to_files.read_volume

    def failing_read(path):
        if Path(path).name == "case.nii.gz":
            raise MemoryError("simulated")
        return real_read(path)

    monkeypatch.setattr(run_to_files, "read_volume", failing_read)
    code, out, err = run(["batch", "synthesize", "--input-dir", inputs["cases"], "--output-dir", tmp_path], capsys)
    assert code == 2 and "unexpected MemoryError: simulated" in err and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["case_nrrd_synthetic_ct.nii.gz"]


def test_anomaly_outputs_appear_together(inputs, tmp_path, capsys):
    outputs = [tmp_path / "heat.nii.gz", tmp_path / "seg.nrrd", tmp_path / "scores.csv"]
    code, out, err = run(["anomaly", "-i", inputs["ct"], "-o", outputs[0], "--segmentation", outputs[1], "--scores",
                          outputs[2], "-q"], capsys)
    assert code == 0, err
    assert sorted(tmp_path.iterdir()) == sorted(outputs) and out.count("wrote ") == 3


def test_output_held_by_another_run_is_refused(inputs, tmp_path, capsys):
    output = tmp_path / "x.nii.gz"
    with OutputSet([output]):
        code, _, err = run(["synthesize", "-i", inputs["labels"], "-o", output, "--overwrite"], capsys)
        assert code == 2 and "Another run is writing" in err
        with pytest.raises(GANSynthesisError, match="Another run"):
            with OutputSet([output], overwrite=True):
                pass
    assert [p.name for p in tmp_path.iterdir()] == ["x.nii.gz"]  # the holder's file; no lock or temporary file


def test_failure_inside_a_run_leaves_no_file(tmp_path):
    output = tmp_path / "x.nii.gz"
    with pytest.raises(RuntimeError):
        with OutputSet([output]) as outputs:
            outputs.staged(output).write_bytes(b"half")
            raise RuntimeError("failed while writing")
    assert not list(tmp_path.iterdir())


# --- bundles -------------------------------------------------------------------------------------------------


def _break(folder: Path, how: str) -> None:
    manifest_path = folder / "model.json"
    manifest = json.loads(manifest_path.read_text())
    weights = folder / "generator.safetensors"
    if how == "null":
        manifest_path.write_text("null")
    elif how == "latin1":
        manifest_path.write_bytes(json.dumps(manifest | {"title": "é"}, ensure_ascii=False).encode("latin-1"))
    elif how == "weights-list":
        manifest_path.write_text(json.dumps(manifest | {"weights": ["generator.safetensors"]}))
    elif how == "entry-string":
        manifest_path.write_text(json.dumps(manifest | {"weights": {"generator": "generator.safetensors"}}))
    elif how == "wrong-sha":
        manifest["weights"]["generator"]["sha256"] = "0" * 64
        manifest_path.write_text(json.dumps(manifest))
    elif how == "missing-weights":
        weights.unlink()
    elif how in ("pickle", "truncated", "other-architecture"):
        if how == "pickle":
            weights.write_bytes(b"\x80\x04\x95" + b"\x00" * 64)  # a pickle under the safetensors name
        elif how == "truncated":
            weights.write_bytes(weights.read_bytes()[:-1000])
        else:
            manifest["architecture"]["generator"]["base_width"] = 4
        manifest["weights"]["generator"]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
        manifest_path.write_text(json.dumps(manifest))
    elif how == "zero-spacing":
        manifest["grid"]["in_plane_spacing_mm"] = [0, 3]
        manifest_path.write_text(json.dumps(manifest))


BROKEN = {"null": "not a JSON object", "latin1": "not UTF-8", "weights-list": "'weights' must be a JSON object",
          "entry-string": "weights 'generator' must be an object", "wrong-sha": "does not match its SHA-256",
          "missing-weights": "is missing", "pickle": "never unpickles", "truncated": "truncated",
          "other-architecture": "do not fit its architecture", "zero-spacing": "two positive numbers"}


@pytest.fixture(scope="module")
def broken_bundles(tiny_bundle_dir, tmp_path_factory) -> Path:
    """A user model folder holding the tiny bundle broken in every way of :data:`BROKEN`, one copy each."""
    root = tmp_path_factory.mktemp("user-models")
    for how in BROKEN:
        shutil.copytree(tiny_bundle_dir, root / f"broken-{how}")
        _break(root / f"broken-{how}", how)
    return root


@pytest.mark.parametrize("how", BROKEN)
def test_broken_bundle_given_by_path_is_refused_clearly(how, broken_bundles, inputs, tmp_path, capsys):
    code, _, err = run(["synthesize", "-i", inputs["labels"], "-o", tmp_path / "x.nii.gz", "--model",
                        broken_bundles / f"broken-{how}"], capsys)
    assert code == 2 and err.startswith("error:") and BROKEN[how] in err and "Traceback" not in err, err
    assert not list(tmp_path.iterdir())


def test_models_lists_every_bundle_with_its_state_and_broken_ones_disable_nothing(broken_bundles, inputs, tmp_path,
                                                                                  capsys, monkeypatch):
    monkeypatch.setenv(USER_MODELS_ENV, str(broken_bundles))
    code, out, err = run(["models"], capsys)
    assert code == 0, err
    assert "mmwhs-ct  [synthesize]" in out
    for how, problem in BROKEN.items():
        assert f"broken-{how}  [broken: not usable]" in out and problem in out
    code, out, _ = run(["models", "--json"], capsys)
    states = {Path(entry["path"]).name: entry["state"] for entry in json.loads(out)}
    assert states["mmwhs-ct"] == "ok" and all(states[f"broken-{how}"] == "broken" for how in BROKEN)
    code, _, err = run(["synthesize", "-i", inputs["labels"], "-o", tmp_path / "x.nii.gz", "-q"], capsys)
    assert code == 0, err  # the default model still works
    code, _, err = run(["synthesize", "-i", inputs["labels"], "-o", tmp_path / "y.nii.gz", "-m", "broken-null"], capsys)
    assert code == 2 and "cannot be used" in err and "not a JSON object" in err


# --- child processes: concurrent runs and signals ------------------------------------------------------------


def cli_process(*args: object) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    # Ctrl-C as in a terminal, even where this suite runs in the background (whose children inherit an ignored SIGINT)
    return subprocess.Popen([sys.executable, "-m", "GANSynthesisLib", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.fixture(scope="module")
def slow_case(tmp_path_factory) -> Path:
    """A label map large enough that synthesizing it takes a few seconds on a CPU."""
    return write_image(heart_labels((48, 192, 192)), tmp_path_factory.mktemp("slow") / "slow.nii.gz", (1, 1, 2))


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the child never reached the expected step"
        time.sleep(0.02)


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT],
                         ids=["SIGTERM", "SIGHUP", "SIGINT"])
def test_signal_during_a_run_leaves_nothing_and_says_so(signal_number, slow_case, tmp_path):
    process = cli_process("synthesize", "-i", slow_case, "-o", tmp_path / "x.nii.gz", "--device", "cpu",
                          "--batch-size", "1", "-q")
    wait_for(lambda: any(p.name.endswith(".partial.nii.gz") for p in tmp_path.iterdir()) or process.poll() is not None)
    process.send_signal(signal_number)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal_number, err
    assert "error: interrupted" in err and "nothing was written" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_interrupted_batch_says_which_cases_were_written(slow_case, inputs, tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    shutil.copy(inputs["labels"], cases / "a_small.nii.gz")
    shutil.copy(slow_case, cases / "b_slow.nii.gz")
    out = tmp_path / "out"
    process = cli_process("batch", "synthesize", "--input-dir", cases, "--output-dir", out, "--device", "cpu",
                          "--batch-size", "1")
    wait_for(lambda: (out / "a_small_synthetic_ct.nii.gz").exists() or process.poll() is not None)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "only these were written" in err and "a_small_synthetic_ct.nii.gz" in err
    assert "nothing was written" not in err
    assert [p.name for p in out.iterdir()] == ["a_small_synthetic_ct.nii.gz"]


def test_two_runs_writing_one_output_never_mix(slow_case, tmp_path):
    output = tmp_path / "x.nii.gz"
    runs = [cli_process("synthesize", "-i", slow_case, "-o", output, "--overwrite", "--device", "cpu", "-q")
            for _ in range(2)]
    results = [(run.wait(timeout=120), run.stderr.read()) for run in runs]
    for run in runs:
        run.stdout.close()
        run.stderr.close()
    assert all(code == 0 or (code == 2 and "Another run is writing" in err) for code, err in results), results
    assert any(code == 0 for code, _ in results)
    assert [p.name for p in tmp_path.iterdir()] == ["x.nii.gz"]
    assert sitk.ReadImage(str(output)).GetSize() == (192, 192, 48)
