"""``zoo``: the command line of zoo-core.

::

    zoo list [PATTERN] [--pretrained]    registered models (or their published weight sets, NAME.TAG)
    zoo info NAME [--json]               metadata of a model, or of any other registered name
    zoo neurons [PATTERN]                registered neurons: owner, paper, defaults
    zoo plugins                          installed plugins and how their loading went
    zoo new-plugin NAME [--dir DIR]      write a plugin skeleton that passes the conformance kit
    zoo eval [NAME[.TAG]] [--pretrained] evaluate a model the way its task does (jobs)
    zoo train MODEL [...]                train the way the model's task does, write a weight folder
    zoo card NAME.TAG                    print a weight set's model card
    zoo push FOLDER REPO_ID              validate and publish a weight folder to the Hub
    zoo bench-neuron NEURON              train spiking_cnn with NEURON next to LIF on digits
    zoo convert --official FILE ...      turn an official checkpoint into a weight folder
    zoo robust-eval NAME.TAG --attack A  clean and FGSM/PGD robust accuracy (robust)
    zoo plot raster|rates|trace|frames|curves ... --out FILE.png|.svg   pictures (plot)

The framework is :mod:`.base`; each command module registers its commands when imported. The CLI parses
arguments and prints; the work is the public API's (:mod:`zoo_core.api`) and the tasks' (:mod:`zoo_core.tasks`).
"""

from . import browse, jobs, plot, robust, scaffold  # noqa: F401  (importing a command module registers its commands)
from .base import COMMANDS, EXIT_ERROR, EXIT_OK, CLIError, Command, build_parser, command, main

__all__ = ["COMMANDS", "EXIT_ERROR", "EXIT_OK", "CLIError", "Command", "build_parser", "command", "main"]
