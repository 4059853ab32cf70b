"""Draw the demo pictures of the plugin README from the shipped demo weights (needs matplotlib).

    .venv/bin/python plugins/neuroprosthesis/scripts/plot_demos.py [OUT_DIR]

``retina_rates.png``: the OFF-cell CNN's predicted firing rates next to the true rates and the Poisson responses
on 150 test bins of ``retina_white_noise``, per cell, with the CC of each pair. ``digits_decoded.png``: test
digits (up-sampled targets), the SID decoder's reconstructions from the 90 cells' spike counts, the linear
decoder's and the mean image. Everything is computed in float64 from the weights and data sets as registered.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import zoo_core as zoo

from zoo_neuroprosthesis.metrics import pearson
from zoo_neuroprosthesis.tasks import ridge_fit, ridge_predict, stack_dataset

OUT = Path(__file__).resolve().parents[1] / "docs"
OFF = "retina_off_cnn.white_noise_t20"
SID = "sid_decoder_digits.digits_spikes_90"


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    out.mkdir(parents=True, exist_ok=True)

    # -- retina encoding -----------------------------------------------------------------------------------
    model = zoo.create_model(OFF, pretrained=True).double().eval()
    test = zoo.create_dataset("retina_white_noise", split="test")
    x, y, rate = stack_dataset(test)
    with torch.no_grad():
        pred = model(x.double())
    span = slice(1000, 1150)
    fig, axes = plt.subplots(2, 1, figsize=(10, 5.2), sharex=True)
    for c, ax in enumerate(axes):
        t = torch.arange(span.start, span.stop)
        ax.bar(t, y[span, c], width=1.0, color="0.85", label="Poisson responses (counts)")
        ax.plot(t, rate[span, c], color="k", lw=1.6, label="true rate")
        ax.plot(t, pred[span, c], color="tab:red", lw=1.4, label="CNN prediction")
        cc_rate = float(pearson(pred[:, c], rate[:, c].double()))
        cc_resp = float(pearson(pred[:, c], y[:, c].double()))
        ax.set_title(
            f"OFF cell {c + 1}: CC vs true rate {cc_rate:.3f}, vs responses {cc_resp:.3f} (all 4,000 test bins)"
        )
        ax.set_ylabel("spikes / bin")
    axes[0].legend(loc="upper right", fontsize=8, ncol=3)
    axes[-1].set_xlabel("test bin")
    fig.tight_layout()
    fig.savefig(out / "retina_rates.png", dpi=110)
    plt.close(fig)

    # -- spike-image decoding ------------------------------------------------------------------------------
    sid = zoo.create_model(SID, pretrained=True).double().eval()
    train = zoo.create_dataset("digits_spikes", split="train")
    test = zoo.create_dataset("digits_spikes", split="test")
    xs, imgs = stack_dataset(test)
    with torch.no_grad():
        decoded = sid(xs.double())
    tr = stack_dataset(train)
    linear = ridge_predict(ridge_fit(tr[0], tr[1]), xs).view_as(imgs)
    rows = [("true (32x32)", imgs), ("SID decoder", decoded), ("linear decoder", linear)]
    n = 10
    fig, axes = plt.subplots(len(rows) + 1, n, figsize=(n * 1.0, 4.4))
    for r, (label, images) in enumerate(rows):
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(images[i, ..., 0].clamp(0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=8)
    for i in range(n):
        ax = axes[-1, i]
        ax.imshow(test.mean_image[..., 0], cmap="gray", vmin=0, vmax=1) if i == 0 else ax.axis("off")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[-1, 0].set_ylabel("mean image", fontsize=8)
    fig.suptitle("Test digits decoded from 90 simulated cells' spike counts", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "digits_decoded.png", dpi=110)
    plt.close(fig)
    print(f"wrote {out / 'retina_rates.png'} and {out / 'digits_decoded.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
