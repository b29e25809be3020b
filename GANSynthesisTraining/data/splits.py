"""Patient-level split of dataset cases into training, validation and test, recorded in the run folder."""

from __future__ import annotations

import json
import random
from pathlib import Path

from GANSynthesisLib.core.errors import GANSynthesisError


def split_cases(cases: list, held_out: int, validation: int, seed: int) -> tuple[list, list, list]:
    """Patient-level split into (train, validation, test): whole cases go to one side only."""
    if held_out < 0 or validation < 0 or held_out + validation >= len(cases):
        raise GANSynthesisError(f"{len(cases)} cases leave none to train on with --held-out {held_out} and "
                                f"--validation {validation}; lower them or add cases")
    order = list(range(len(cases)))
    random.Random(seed).shuffle(order)

    def chosen(indices: list[int]) -> list:
        return [cases[i] for i in indices]

    return chosen(order[held_out + validation:]), chosen(order[held_out:held_out + validation]), chosen(order[:held_out])


def write_split(run_dir: Path, train: list, validation: list, test: list) -> None:
    """split.json: which cases trained, which validated during training and which were held out for testing."""
    (run_dir / "split.json").write_text(json.dumps({"train": [c.case_id for c in train],
                                                    "validation": [c.case_id for c in validation],
                                                    "test": [c.case_id for c in test]}, indent=1))


def dataset_split(cases: list, held_out: int, validation: int, seed: int,
                  origin: object) -> tuple[list, list, list, str, str]:
    """:func:`split_cases` of the cases read from ``origin``, with what model cards say of the training and the
    test data."""
    train, validation_cases, test = split_cases(cases, held_out, validation, seed)
    return train, validation_cases, test, f"{len(train)} cases from {origin}", f"{len(test)} held-out patients"
