"""``python -m GANSynthesisTraining <command> [options]`` (``--help`` lists the commands)."""

import sys

from GANSynthesisTraining.command_line.main import command_line

sys.exit(command_line())
