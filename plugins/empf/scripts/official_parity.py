"""float64 parity of zoo_empf against the official modules on the same (random) weights.

    python plugins/empf/scripts/official_parity.py /tmp/empf_official

OFFICIAL_DIR holds the official ``modules.py``, ``resnet.py``, ``vgg.py`` and ``utils.py`` (tsinghua-fib-lab/AutoSOTA,
``CVPR-2026/paper-2274-GCL-LIF``; commits in the plugin README) with the ``.float()`` casts inside
``SurrogateFunction.forward`` and ``TwnQuantizer.forward`` replaced by ``.to(input.dtype)`` so float64 runs.
Keep that copy outside this repository. For each configuration the script loads one random state dict into both
networks and prints the max abs differences of the per-step logits (train and eval mode), of the gradients of
sum_t CE(z_t, y), of the BatchNorm running statistics after the train-mode pass and of the deployed
(``reset_BConv`` / :func:`zoo_empf.deploy`) outputs.

``tools/bench_models.py --official empf=OFFICIAL_DIR`` times the official ResNet-18 beside the zoo's through the
``BENCH`` / :func:`bench_official` hook below (the official modules are imported only then, or by :func:`main`).
"""

import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import zoo_core as zoo

from zoo_empf import deploy

D = torch.float64

#: ``tools/bench_models.py --official empf=DIR``: (model, constructor overrides, batch)
BENCH = [("empf_resnet18", {"T": 2, "num_classes": 10}, 4)]
BENCH_NEURONS = ("OnlineNeuron", "LIFNeuron")  # the official spiking modules (modules.py)


def randomise(sd, seed):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked") or k.endswith("weight_clip_val"):
            out[k] = v.clone()
            continue
        r = torch.rand(v.shape, generator=g, dtype=D)
        if k.endswith("running_var"):
            out[k] = r + 0.5
        elif k.endswith("running_mean"):
            out[k] = (r - 0.5) * 0.2
        elif v.dim() == 1 and (k.endswith(".v_th") or k.endswith(".alpha") or "ratio" in k):
            out[k] = (r - 0.5) * 2
        elif k.endswith("weight") and v.dim() == 1:
            out[k] = r + 0.5
        elif k.endswith("bias"):
            out[k] = (r - 0.5) * 0.2
        else:
            out[k] = torch.randn(v.shape, generator=g, dtype=D) * (2.0 / (v[0].numel())) ** 0.5 * 1.5
    return out


def official_steps(m, x):
    from utils import reset_model  # the official checkout (OFFICIAL_DIR)

    reset_model(m)
    outs = [m(x_t) for x_t in x.unbind(0)]
    reset_model(m)
    return torch.stack(outs)


def bench_official(name: str, cfg: dict, model: nn.Module, device: str):
    """(official ResNet-18 with ``model``'s float32 weights, ``run``): ``run(x)`` is the mean over T of the
    official per-step logits for the image repeated T times, as the zoo model's forward."""
    import resnet as off_resnet  # the official checkout (OFFICIAL_DIR)

    if name != "empf_resnet18":
        raise ValueError(f"bench_official: no official builder for {name!r}")
    T = model.T
    off = off_resnet.resnet18(T, num_classes=cfg.get("num_classes", 100))
    off.load_state_dict(model.state_dict())  # the same keys in the same order (compare() asserts it)
    off = off.to(device)
    return off, lambda x: official_steps(off, x.unsqueeze(0).expand(T, *x.shape)).mean(0)


def compare(label, off, zm, x, y):
    from utils import reset_BConv  # the official checkout (OFFICIAL_DIR)

    sd = randomise(off.state_dict(), 0)
    off.load_state_dict(sd)
    zm.load_state_dict(sd, strict=True)
    assert [k for k in off.state_dict()] == [k for k in zm.state_dict()], "key order differs"
    res = {}
    for mode in ("train", "eval"):
        getattr(off, mode)()
        getattr(zm, mode)()
        off.zero_grad()
        zm.zero_grad()
        a = official_steps(off, x)
        b = zm.forward_steps(x)
        res[f"{mode} logits"] = float((a - b).abs().max())
        scale = float(a.detach().abs().max())
        sum(F.cross_entropy(z, y) for z in a.unbind(0)).backward()
        sum(F.cross_entropy(z, y) for z in b.unbind(0)).backward()
        po, pz = dict(off.named_parameters()), dict(zm.named_parameters())
        res[f"{mode} grads"] = max(
            float((po[k].grad - pz[k].grad).abs().max()) for k in po if po[k].grad is not None
        )
        res[f"{mode} grads rel"] = max(
            float((po[k].grad - pz[k].grad).abs().max() / po[k].grad.abs().max().clamp_min(1e-300))
            for k in po
            if po[k].grad is not None
        )
        assert all((po[k].grad is None) == (pz[k].grad is None) for k in po)
    bs = {k: v for k, v in off.state_dict().items() if "running" in k or "num_batches" in k}
    res["BN buffers after train"] = max(
        float((v.double() - zm.state_dict()[k].double()).abs().max()) for k, v in bs.items()
    )
    # deployment
    off.eval()
    zm.eval()
    reset_BConv(off)
    deploy(zm)
    with torch.no_grad():
        res["deployed eval logits"] = float((official_steps(off, x) - zm.forward_steps(x)).abs().max())
    print(
        f"{label}: |logits| max {scale:.3g}; " + "; ".join(f"{k} {v:.2e}" for k, v in res.items()), flush=True
    )


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit(__doc__)
    sys.path.insert(0, argv[0])
    import resnet as off_resnet  # the official checkout
    import vgg as off_vgg  # the official checkout

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1)
    T = 4
    x = torch.rand(T, 2, 3, 16, 16, generator=g, dtype=D) * 2 - 1
    y = torch.tensor([1, 7])
    t0 = time.time()
    compare(
        "resnet18 binary CIFAR-10",
        off_resnet.resnet18(T, num_classes=10).double(),
        zoo.create_model("empf_resnet18", T=T, num_classes=10).double(),
        x,
        y,
    )
    compare(
        "resnet18 ternary+parallel+mem_bn+eca1+4bit CIFAR-100",
        off_resnet.resnet18(
            T,
            num_classes=100,
            use_ternary=True,
            parallel_mode=True,
            mem_bn=True,
            use_eca=1,
            mode="compression",
        ).double(),
        zoo.create_model(
            "empf_resnet18",
            T=T,
            num_classes=100,
            use_ternary=True,
            parallel_mode=True,
            mem_bn=True,
            use_eca=1,
            mode="compression",
        ).double(),
        x,
        y,
    )
    compare(
        "resnet18 ternary+parallel+mem_bn+eca2",
        off_resnet.resnet18(
            T, num_classes=100, use_ternary=True, parallel_mode=True, mem_bn=True, use_eca=2
        ).double(),
        zoo.create_model(
            "empf_resnet18",
            T=T,
            num_classes=100,
            use_ternary=True,
            parallel_mode=True,
            mem_bn=True,
            use_eca=2,
        ).double(),
        x,
        y,
    )
    compare(
        "resnet19 binary",
        off_resnet.resnet19(T, num_classes=10, use_resnet19=True).double(),
        zoo.create_model("empf_resnet19", T=T, num_classes=10).double(),
        x,
        y,
    )
    compare(
        "resnet18 LIF BPTT (use_lif=vanilla)",
        off_resnet.resnet18(T, num_classes=10, use_lif="vanilla").double(),
        zoo.create_model("empf_resnet18", T=T, num_classes=10, use_lif="vanilla").double(),
        x * 3,
        y,
    )
    xd = torch.rand(T, 2, 2, 48, 48, generator=g, dtype=D)
    compare(
        "vgg11 DVS binary",
        off_vgg.vgg11(T, 10, False, True, 0, False, "vanilla").double(),
        zoo.create_model("empf_vgg11", T=T).double(),
        xd,
        y,
    )
    compare(
        "vgg11 DVS ternary+eca+mem_bn",
        off_vgg.vgg11(T, 10, True, True, 1, True, "compression").double(),
        zoo.create_model(
            "empf_vgg11", T=T, use_ternary=True, use_eca=1, use_mem_bn=True, mode="compression"
        ).double(),
        xd,
        y,
    )
    compare(
        "vgg13 CIFAR binary",
        off_vgg.vgg13(T, 100, False, False, 0, False, "vanilla").double(),
        zoo.create_model("empf_vgg13", T=T).double(),
        x,
        y,
    )
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
