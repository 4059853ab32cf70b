"""Official LM-HT checkpoints: key mapping (``from_official``) and the configuration they imply
(``official_config``), the hooks every LM-HT model registers."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from zoo_core.sdk import unwrap_state_dict

__all__ = ["from_official", "official_config"]


def from_official(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Official checkpoint -> zoo layout (the core has already unwrapped ``{"model": ...}`` / ``module.``).

    The layouts are identical except the ``*.core`` parameters the official forward registers
    (an alias of ``*.mask`` when 6-D, else of ``*.mask_linear``): dropped when that mask is present, otherwise
    (a checkpoint that lost it) renamed to it."""
    out: dict[str, Tensor] = {}
    for k, v in state_dict.items():
        if k.endswith(".core") or k == "core":
            target = k[: -len("core")] + ("mask" if v.dim() == 6 else "mask_linear")
            if target in state_dict:
                continue
            k = target
        out[k] = v
    return out


def official_config(state_dict: dict[str, Tensor]) -> dict[str, Any]:
    """Constructor overrides implied by an official state dict: ``num_classes``, ``in_chans``, ``T`` (from a
    mask), ``mode`` (``ann`` for QCFS ``thresh`` keys, ``inference`` for reparameterised ``alpha`` [L T], ``if``
    for IF neurons' ``v_threshold`` without ``alpha``) and,
    for the ResNet-18/34 stem, ``use_imagenet`` (7x7 stem)."""
    sd = unwrap_state_dict(state_dict)
    cfg: dict[str, Any] = {}
    heads = (
        "fc.0.weight",
        "fc.weight",
        "classifier.6.0.weight",
        "classifier.0.weight",
        "classifier.7.weight",
    )
    head = next((k for k in heads if k in sd), None)
    if head is not None:
        cfg["num_classes"] = int(sd[head].shape[0])
    stems = ("conv1.weight", "conv1.0.0.weight", "conv1.0.weight", "layer1.0.0.weight", "layer1.0.weight")
    stem = next((k for k in stems if k in sd), None)
    if stem is not None:
        cfg["in_chans"] = int(sd[stem].shape[1])
    if "conv1.weight" in sd:
        cfg["use_imagenet"] = int(sd["conv1.weight"].shape[-1]) == 7
    if any(k.endswith(".thresh") for k in sd):
        cfg["mode"] = "ann"
    mask = next((v for k, v in sd.items() if k.endswith(".mask")), None)
    alpha = next((v for k, v in sd.items() if k.endswith(".alpha")), None)
    if alpha is not None and alpha.numel() > 1:
        cfg["mode"] = "inference"  # T = L * T_train: pass T (training steps) and L yourself
    elif mask is not None:
        cfg["T"] = int(mask.shape[0])
        if "conv1.0.0.weight" in sd:
            cfg["mode"] = "lmht"
    elif any(k.endswith(".v_threshold") for k in sd):
        cfg["mode"] = "if"  # the IF stage of hybrid training (IFNeuron: v_threshold only); T is not stored
    return cfg
