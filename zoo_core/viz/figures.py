"""The pictures: spike raster, firing rates, membrane trace, image grids and a task's examples.

Figures are made without pyplot (no window, no global state, nothing changes the user's backend): a
``matplotlib.figure.Figure`` drawn by the Agg canvas, written as PNG or SVG by :func:`save`.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, Subset

from ..api import get_task, model_info
from ..errors import ConfigError
from .record import LayerRecord, record

__all__ = [
    "FORMATS",
    "MissingExtraError",
    "check_path",
    "examples",
    "figure",
    "firing_rates",
    "frames",
    "membrane_trace",
    "raster",
    "save",
]

#: the file types pictures are written as (by the path's suffix)
FORMATS = (".png", ".svg")
INSTALL = 'pip install "zoo-core[viz]"'


class MissingExtraError(ConfigError, ImportError):
    """matplotlib, the optional extra ``viz``, is not installed."""


def figure(figsize: tuple[float, float], dpi: float = 100) -> Any:
    """A new ``matplotlib.figure.Figure`` with constrained layout on the Agg canvas (no display)."""
    try:
        # optional extra: pictures need matplotlib, nothing else in the zoo does
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError(f"pictures need matplotlib: {INSTALL}") from None
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def check_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`Path` if a picture can be written there: suffix ``.png`` or ``.svg`` and an existing
    folder; otherwise a :class:`ConfigError` (checked before any work)."""
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise ConfigError(f"a picture is written as PNG or SVG: name a FILE.png or FILE.svg, got {str(p)!r}")
    if not p.parent.is_dir():
        raise ConfigError(f"cannot write {str(p)!r}: the folder {str(p.parent)!r} does not exist")
    return p


def save(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` to ``path`` as PNG or SVG (by the suffix) at the figure's dpi: written aside and renamed, so
    the file is whole or absent."""
    p = check_path(path)
    fmt = p.suffix.lower()[1:]
    # no date in the file: the same picture gives the same bytes
    meta = {"Date": None} if fmt == "svg" else {}
    # an exclusive new file beside the target (created with the user's umask, unlike mkstemp's 0600)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            fig.savefig(f, format=fmt, dpi=fig.dpi, metadata=meta)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def _done(fig: Any, path: str | os.PathLike[str] | None, title: str | None = None) -> Any:
    if title:
        fig.suptitle(title, fontsize=11)
    if path is not None:
        save(fig, path)
    return fig


def _steps_axis(ax: Any, steps: int) -> None:
    ax.set_xlabel("time step")
    if steps <= 20:
        ax.set_xticks(range(1, steps + 1))


# ------------------------------------------------------------------------------------------------ spikes
def raster(
    model: nn.Module,
    x: Any,
    layer: str | None = None,
    *,
    sample: int = 0,
    max_neurons: int = 256,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    figsize: tuple[float, float] = (7.0, 4.5),
    dpi: float = 100,
) -> Any:
    """Spike raster of one spiking layer (default: the first that runs) for sample ``sample`` of ``x``: time step
    on x, neuron on y (the layer's first ``max_neurons`` neurons, flattened in channel-major order), a black cell
    where the neuron fired (any non-zero output)."""
    if path is not None:
        check_path(path)
    if max_neurons < 1:
        raise ConfigError(f"max_neurons must be >= 1, got {max_neurons}")
    lr = record(model, x, None if layer is None else [layer]).layer(layer)
    spikes = lr.sample(sample)
    shown = spikes[:, :max_neurons] != 0
    T, n = shown.shape
    fig = figure(figsize, dpi)
    ax = fig.add_subplot()
    ax.imshow(
        shown.T.to(torch.float32).numpy(),
        cmap="Greys",
        vmin=0,
        vmax=1,
        aspect="auto",
        interpolation="nearest",
        origin="lower",
        extent=(0.5, T + 0.5, -0.5, n - 0.5),
    )
    _steps_axis(ax, T)
    ax.set_ylabel("neuron (flattened index)")
    rate = float((spikes != 0).to(torch.float64).mean())
    which = f"neurons 0-{n - 1} of {lr.neurons}" if n < lr.neurons else f"all {n} neurons"
    ax.set_title(
        f"spike raster: {lr.name} ({lr.type}), sample {sample}\n{which}; {int(shown.sum())} spikes shown; "
        f"layer firing rate {rate:.3f}",
        fontsize=10,
    )
    return _done(fig, path, title)


def firing_rates(
    model: nn.Module,
    x: Any,
    *,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float = 100,
) -> Any:
    """Firing rate of every spiking layer at every time step (fraction of its neurons that fired, over the whole
    batch ``x``): a heat map, layers top to bottom in the order they run, each labelled with its mean rate."""
    if path is not None:
        check_path(path)
    rec = record(model, x)
    if not rec.layers:
        rec.layer()  # the "no spiking layer" error
    layers = list(rec.layers.values())
    T = max(lr.steps for lr in layers)
    grid = torch.full((len(layers), T), float("nan"), dtype=torch.float64)
    for i, lr in enumerate(layers):
        grid[i, : lr.steps] = lr.rates()
    if figsize is None:
        figsize = (min(14.0, 3.6 + 0.55 * T), min(12.0, 1.5 + 0.45 * len(layers)))
    fig = figure(figsize, dpi)
    ax = fig.add_subplot()
    top = float(torch.nan_to_num(grid).max()) or 1.0
    im = ax.imshow(
        grid.numpy(),
        cmap="viridis",
        vmin=0,
        vmax=top,
        aspect="auto",
        interpolation="nearest",
        extent=(0.5, T + 0.5, len(layers) - 0.5, -0.5),
    )
    if grid.numel() <= 240:  # the values themselves, where the cells are big enough to hold them
        for i in range(len(layers)):
            for t in range(T):
                v = float(grid[i, t])
                if not math.isnan(v):  # NaN: the layer ran fewer steps
                    colour = "white" if v < 0.6 * top else "black"
                    ax.text(t + 1, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_yticks(range(len(layers)))
    ax.set_yticklabels(
        [f"{lr.name} ({float((lr.spikes != 0).to(torch.float64).mean()):.3f})" for lr in layers]
    )
    _steps_axis(ax, T)
    batch = layers[0].spikes.shape[1] if layers[0].spikes.dim() >= 2 else 1
    ax.set_title(f"firing rate per layer and time step ({batch} sample(s)); mean in brackets", fontsize=10)
    fig.colorbar(im, ax=ax, label="spikes per neuron and step")
    return _done(fig, path, title)


def _default_neuron(lr: LayerRecord, sample: int) -> int:
    """A neuron worth watching in the sample: the one whose spike train switches between firing and silence most
    often (lowest index on ties); if none switches, the one that fired most; if none fired, the one that came
    closest to its threshold."""
    fired = lr.sample(sample) != 0
    switches = (fired[1:] != fired[:-1]).sum(0) if lr.steps > 1 else torch.zeros(fired.shape[1])
    if int(switches.max()) > 0:
        return int(torch.argmax(switches))  # argmax returns the first maximum
    counts = fired.sum(0)
    if int(counts.max()) > 0:
        return int(torch.argmax(counts))
    return int(torch.argmax(lr.sample(sample, "margin").max(0).values))


def membrane_trace(
    model: nn.Module,
    x: Any,
    layer: str | None = None,
    neuron: int | None = None,
    *,
    sample: int = 0,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    figsize: tuple[float, float] = (7.0, 3.2),
    dpi: float = 100,
) -> Any:
    """The membrane potential of one neuron over time (before each step's reset, the value compared with the
    threshold), with its threshold line and a mark at every step where it spiked. ``layer``: a spiking layer
    (default: the first); ``neuron``: its flattened index (default: the neuron whose spikes switch on and off most
    often)."""
    if path is not None:
        check_path(path)
    lr = record(model, x, None if layer is None else [layer]).layer(layer)
    if lr.margin is None:
        raise ConfigError(
            f"layer {lr.name!r} ({lr.type}) does not show its membrane potential: it does not fire through a "
            "surrogate spike function called on (membrane - threshold) once per time step (a neuron with its own "
            "firing rule); pick a layer whose neuron does (zoo plot raster lists the layers)"
        )
    spikes = lr.sample(sample)
    if neuron is None:  # after the check above: the default looks at the membrane
        neuron = _default_neuron(lr, sample)
    if not 0 <= neuron < lr.neurons:
        raise ConfigError(
            f"neuron {neuron} is out of range: layer {lr.name!r} has {lr.neurons} neurons (0-{lr.neurons - 1})"
        )
    v = lr.sample(sample, "membrane")[:, neuron].to(torch.float64)
    fired = (spikes[:, neuron] != 0).nonzero().flatten()
    steps = torch.arange(1, lr.steps + 1)
    fig = figure(figsize, dpi)
    ax = fig.add_subplot()
    ax.plot(steps.numpy(), v.numpy(), "-o", ms=4, color="tab:blue", label="membrane")
    known = lr.threshold is not None
    th = lr.threshold if known else 0.0
    ax.axhline(th, ls="--", color="tab:red", lw=1, label=f"threshold {th:g}" if known else "threshold")
    if len(fired):
        ax.plot((fired + 1).numpy(), v[fired].numpy(), "*", ms=12, color="tab:orange", label="spikes")
        for t in fired.tolist():
            ax.axvline(t + 1, color="tab:orange", lw=0.8, alpha=0.4)
    _steps_axis(ax, lr.steps)
    ax.set_ylabel("membrane potential" if known else "membrane - threshold")
    ax.set_title(
        f"membrane trace: {lr.name} ({lr.type}), neuron {neuron}, sample {sample}: {len(fired)} spike(s) "
        f"in {lr.steps} steps",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="best")
    return _done(fig, path, title)


# ------------------------------------------------------------------------------------------------ images
Row = tuple[str, Tensor] | tuple[str, Tensor, Sequence[str]]


def _image(img: Tensor) -> Any:
    """``[C, H, W]`` in [0, 1] -> an array imshow takes (grey for C = 1, RGB for C = 3, else the channel mean)."""
    img = img.detach().to("cpu", torch.float32).clamp(0, 1)
    if img.shape[0] == 3:
        return img.permute(1, 2, 0).numpy()
    return img.mean(0).numpy()


def frames(
    rows: Sequence[Row],
    *,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    cell: float = 1.0,
    dpi: float = 100,
) -> Any:
    """A grid of images, one row per ``(title, images)`` or ``(title, images, captions)``: ``images`` a
    ``[N, C, H, W]`` (or ``[N, H, W]``) tensor in [0, 1], ``captions`` one string per image. Each image cell is
    ``cell`` inches wide; rows may hold different numbers of images."""
    if path is not None:
        check_path(path)
    checked: list[tuple[str, Tensor, list[str] | None]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, tuple | list) or len(row) not in (2, 3):
            raise ConfigError(
                f"row {i}: expected (title, images) or (title, images, captions), got {row!r:.80}"
            )
        name, images = str(row[0]), row[1]
        if not isinstance(images, Tensor) or images.dim() not in (3, 4) or len(images) == 0:
            got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ConfigError(
                f"row {i} ({name!r}): images must be a non-empty [N, C, H, W] tensor, got {got}"
            )
        images = images.unsqueeze(1) if images.dim() == 3 else images
        captions = None if len(row) == 2 or row[2] is None else [str(c) for c in row[2]]  # type: ignore[misc]
        if captions is not None and len(captions) != len(images):
            raise ConfigError(f"row {i} ({name!r}): {len(captions)} captions for {len(images)} images")
        checked.append((name, images, captions))
    if not checked:
        raise ConfigError("frames: no rows to draw")
    ncols = max(len(im) for _, im, _ in checked)
    lines = max((c.count("\n") + 1 for _, _, cs in checked for c in cs or []), default=0)
    # an image fills about 0.9 of its cell's width once padded; a caption line of 7 pt takes about 0.13 in
    row_h = 0.9 * cell + 0.13 * lines + 0.08
    fig = figure((1.2 + cell * ncols, (0.35 if title else 0.05) + row_h * len(checked)), dpi)
    axes = fig.subplots(len(checked), ncols, squeeze=False)
    for r, (name, images, captions) in enumerate(checked):
        for c in range(ncols):
            ax = axes[r][c]
            if c >= len(images):
                ax.set_axis_off()
                continue
            ax.imshow(_image(images[c]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if captions is not None:
                ax.set_xlabel(captions[c], fontsize=7, labelpad=2)
        axes[r][0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    return _done(fig, path)


def examples(
    model: nn.Module,
    data: Dataset,
    n: int | None = None,
    *,
    start: int = 0,
    task: str | None = None,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    cell: float = 1.0,
    dpi: float = 100,
) -> Any:
    """What ``model`` makes of ``n`` samples of ``data`` from index ``start``, as its task shows it
    (:meth:`zoo_core.tasks.Task.example_rows`: inputs with predicted and true labels for classifiers; observed
    frames, true and predicted future and the copy-last baseline for video predictors), drawn by
    :func:`frames`. ``task``: the registered task (default: the model's, from its registered name)."""
    if path is not None:
        check_path(path)
    name = getattr(model, "zoo_name", None)
    if task is None:
        if name is None:
            raise ConfigError("examples: the model has no registered name (zoo.create_model); pass task=")
        task = model_info(name).task
    if not 0 <= start < len(data):  # type: ignore[arg-type]
        raise ConfigError(f"sample {start} is out of range: the data set holds {len(data)} samples")  # type: ignore[arg-type]
    if start:
        data = Subset(data, range(start, len(data)))  # type: ignore[arg-type]
    rows = get_task(task).example_rows(model, data, n)
    return frames(
        rows, title=title or f"{name or type(model).__name__} ({task})", path=path, cell=cell, dpi=dpi
    )
