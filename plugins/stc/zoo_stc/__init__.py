"""zoo-core plugin ``stc``: STC (spatio-temporal circuit / autapse) spiking neurons and the recurrent spiking
video predictors of Wang & Yu (ICML 2024), with the baselines of the official code (LIF, PLIF, TC-LIF, LM-H,
GLIF)."""

__version__ = "0.1.0"
