"""One command line for training: every command is listed, and every option of every command has a help line."""

import argparse
import subprocess
import sys

from GANSynthesisTraining.command_line.main import COMMANDS, build_parser

from support import ROOT

EXPECTED = {"synthesis", "translation", "cyclegan", "fanogan", "inpainting", "anomaly-real-ct", "portable-scans",
            "lowdose-pairs", "lowdose-real", "wholebody", "evaluate-wholebody"}


def test_help_lists_every_command_and_every_option_has_a_help_line():
    listing = subprocess.run([sys.executable, "-m", "GANSynthesisTraining", "--help"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert set(COMMANDS) == EXPECTED
    listed = {line.split()[0] for line in listing.stdout.splitlines() if line.startswith("    ") and line.split()}
    assert EXPECTED <= listed
    _, parsers = build_parser()
    for name, parser in parsers.items():
        options = [action for action in parser._actions if not isinstance(action, argparse._HelpAction)]
        assert options, name
        undocumented = [action.option_strings or [action.dest] for action in options if not action.help]
        assert not undocumented, f"{name}: {undocumented}"


def test_a_command_shows_its_own_options_and_examples():
    shown = subprocess.run([sys.executable, "-m", "GANSynthesisTraining", "fanogan", "--help"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "python -m GANSynthesisTraining fanogan --phantoms 40" in shown.stdout
    assert "--critic-steps" in shown.stdout and "--lesion-csv" in shown.stdout
