"""float64 parity of the zoo's ``pcnn`` neuron against the classical PCNN reference code the DPCNN spec names.

    MPLBACKEND=Agg python plugins/dpcnn/scripts/official_parity.py PCNN_DIR --site /tmp/official/site2 [--tol TOL]

What is compared, precisely. DPCNN (Yi et al., arXiv 2401.08649) has NO official implementation (none published;
see the plugin README), so nothing of DPCNN itself -- inter-channel coupling, RFTD-BN, the VGG9 models, the
50% / 53% / 73% claims -- can be checked against official code. What can be checked is the part the plugin takes
from the classical PCNN: the reference the spec names, ``ArdeleanRichard/PCNN@49c5e12f``
(``pulse_coupled_nn/src/classic_model.py``, ``ClassicalPCNN.iterate``):

    F = f F + V_F (M * Y) + S;  L = h L + V_L (W * Y);  U = F (1 + beta L);  Theta = g Theta + V_Theta Y;
    Y = [U > Theta]

with ``*`` = ``scipy.signal.fftconvolve(Y, K, mode="same")`` on one 2-D map. The zoo neuron is
``zoo.create_neuron("pcnn", coupling="intra", threshold_update="before", a_F=f, a_L=h, a_E=g, V_F=v_f, V_L=v_l,
V_E=v_theta, beta=beta, e_init=Theta(0))`` with its depthwise coupling weight set to the reference kernel
flipped in both axes (``fftconvolve`` convolves, ``conv2d`` correlates; the reference uses the same kernel for
feeding (M) and linking (W), as the zoo does). Each channel of the zoo neuron is one independent reference
model (intra coupling = a neuron sees only its own map). The stimulus ``S`` is a constant image fed at every
step (``X[t] = S``).

PCNN_DIR is a checkout of ``ArdeleanRichard/PCNN@49c5e12f`` (keep it outside this repository), e.g.::

    git --git-dir=<bare clone> archive 49c5e12f | tar -x -C /tmp/official/PCNN
    pip install --no-deps --target /tmp/official/site2 astropy pyerfa astropy-iers-data pyyaml   # --site

(its ``setup.py`` needs numpy, scipy, matplotlib and astropy; numpy/scipy/matplotlib come with zoo-core's
environment; astropy is only used for its Mexican-hat kernel). The reference runs unmodified in numpy float64;
the script only sets attributes (``M``, ``W``, ``Theta``, ``v_theta``) where a configuration asks for them.

Configurations (3 images or channels, 16x16 (32x32 for the 5x5 kernel), 40 iterations each): the classical
model as constructed (Gaussian 3x3 kernel, ``V_Theta = Theta(0) = 50``); the base-class constants
(``V_Theta = 6, Theta(0) = 1``) with a Gaussian 5x5 kernel; the Mexican-hat 3x3 kernel; a random asymmetric 3x3
kernel (checks the kernel flip). Printed per configuration: max abs difference of the spikes ``Y`` and of the
states ``F``, ``L``, ``U``, ``Theta`` over all iterations (zoo ``U`` = ``f (1 + beta l)`` from its state), and the
firing rate. Exit status 1 if a spike differs, a state differs by more than ``TOL`` = 1e-9 (or ``--tol``; the
two sum in different orders and ``fftconvolve`` rounds differently from ``conv2d``, so the states agree to ~1e-13, not
bit for bit), or nothing fired. A few seconds.
"""

from __future__ import annotations

import sys
import time
from types import ModuleType

import numpy as np
import torch
import zoo_core as zoo
from zoo_core.testing_parity import max_abs_diff, parse_parity_args, report

TOL = 1e-9
D = torch.float64
REPO = "ArdeleanRichard/PCNN@49c5e12f"
REQUIRED = ("pulse_coupled_nn/__init__.py", "pulse_coupled_nn/src/classic_model.py")


def zoo_neuron(ref: object, kernel: np.ndarray, channels: int) -> torch.nn.Module:
    """The zoo ``pcnn`` neuron with the reference model's constants and (flipped) kernel on every channel."""
    n = zoo.create_neuron(
        "pcnn",
        channels=channels,
        coupling="intra",
        kernel_size=kernel.shape[0],
        a_F=float(ref.f),
        a_L=float(ref.h),
        a_E=float(ref.g),
        V_F=float(ref.v_f),
        V_L=float(ref.v_l),
        V_E=float(ref.v_theta),
        beta=float(ref.beta),
        e_init=float(np.asarray(ref.Theta).flat[0]),
        threshold_update="before",
        strict=True,
    ).to(D)
    with torch.no_grad():
        n.coupling.weight.copy_(
            torch.from_numpy(np.ascontiguousarray(kernel[::-1, ::-1])).expand_as(n.coupling.weight)
        )
    return n


def compare(
    pcnn: ModuleType,
    label: str,
    kernel_type: str | None,
    size: int,
    hw: int,
    overrides: dict,
    kernel: np.ndarray | None = None,
    steps: int = 40,
    channels: int = 3,
) -> bool:
    """Run ``channels`` reference models and one zoo neuron on the same images for ``steps`` iterations."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 1.0, (channels, hw, hw)) * overrides.pop("scale", 1.0)
    refs = []
    for _ in range(channels):
        r = pcnn.ClassicalPCNN((hw, hw), kernel_type or "gaussian", size)
        for k, v in overrides.items():
            setattr(r, k, v.copy() if isinstance(v, np.ndarray) else v)
        if kernel is not None:
            r.M, r.W = kernel.copy(), kernel.copy()
        refs.append(r)
    kern = np.asarray(refs[0].W, dtype=np.float64)
    n = zoo_neuron(refs[0], kern, channels)
    x = torch.from_numpy(images)[None]  # [B=1, C, H, W]
    state = n.initial_state(x)
    worst = {"Y (spikes)": 0.0, "F": 0.0, "L": 0.0, "U": 0.0, "Theta": 0.0}
    fired = total = 0
    with torch.no_grad():
        for _ in range(steps):
            for c, r in enumerate(refs):
                r.iterate(images[c])  # updates r.F, r.L, r.U, r.Theta, r.Y
            y, state = n.multi_step(x[None], state)
            u = state["f"] * (1.0 + n.beta * state["l"])
            for key, ref_name, z in (
                ("Y (spikes)", "Y", y[0]),
                ("F", "F", state["f"]),
                ("L", "L", state["l"]),
                ("U", "U", u),
                ("Theta", "Theta", state["e"]),
            ):
                ref = torch.from_numpy(
                    np.stack([np.asarray(getattr(r, ref_name), dtype=np.float64) for r in refs])
                )
                worst[key] = max(worst[key], max_abs_diff(ref[None], z))
            fired += int(y.count_nonzero())
            total += y.numel()
    ok_spikes = worst["Y (spikes)"] == 0.0
    ok = report(
        f"{label} ({channels} maps {hw}x{hw}, {steps} iterations)", worst, {"rate": fired / total}, TOL
    )
    return ok and ok_spikes


def main(argv: list[str] | None = None) -> int:
    global TOL
    args = parse_parity_args(argv, __doc__, REQUIRED)  # puts the checkout (and --site dirs) on sys.path
    TOL = TOL if args.tol is None else args.tol
    try:
        import pulse_coupled_nn as pcnn  # reason: the reference checkout, put on sys.path just above
    except ImportError as e:
        raise SystemExit(
            f"official_parity.py: cannot import the reference package ({e}); pip install --no-deps --target "
            "/tmp/official/site2 astropy pyerfa astropy-iers-data pyyaml, then pass --site /tmp/official/site2"
        ) from None
    torch.set_num_threads(1)
    t0 = time.time()
    rng = np.random.default_rng(1)
    ok = compare(
        pcnn,
        "ClassicalPCNN as constructed: Gaussian 3x3, V_Theta = Theta(0) = 50",
        None,
        3,
        16,
        {"scale": 10.0},
    )
    ok &= compare(
        pcnn,
        "base-class constants V_Theta = 6, Theta(0) = 1, Gaussian 5x5",
        None,
        5,
        32,
        {"v_theta": 6, "Theta": np.ones((32, 32))},
    )
    ok &= compare(
        pcnn,
        "Mexican-hat 3x3 kernel, V_Theta = 6, Theta(0) = 1",
        "mexican_hat",
        3,
        16,
        {"v_theta": 6, "Theta": np.ones((16, 16))},
    )
    ok &= compare(
        pcnn,
        "random asymmetric 3x3 kernel (checks the flip), V_Theta = 6, Theta(0) = 1",
        None,
        3,
        16,
        {"v_theta": 6, "Theta": np.ones((16, 16))},
        kernel=rng.uniform(0.0, 1.0, (3, 3)),
    )
    print(f"{'ALL PASS' if ok else 'FAILED'} in {time.time() - t0:.1f} s (tolerance {TOL:g}, spikes exact)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
