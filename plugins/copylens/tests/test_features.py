"""Feature extraction from a frozen transformers model: the hook point, padding, batch order, revisions.

Random tiny GPT-2, Llama and BERT models are built from configs (no download). The hook point is pinned by the
block equations: with A_l the hooked multi-head-attention result and H_l the block inputs (hidden states),
GPT-2 / Llama: H_{l+1} = H_l + A_l + MLP_l(LN_l(H_l + A_l)) (the last block's output also through the final norm);
BERT: H_{l+1} = Output_l(LN_l(H_l + A_l)).
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

import zoo_core as zoo
from zoo_core.sdk import ConfigError, WeightsError

from zoo_copylens.backbone import block_features, fingerprint, load_backbone, mha_modules

GPT2 = {"model_type": "gpt2", "n_layer": 2, "n_head": 2, "n_embd": 32, "vocab_size": 100, "n_positions": 64,
        "bos_token_id": 0, "eos_token_id": 1, "seed": 0}  # fmt: skip
LLAMA = {"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 2,
         "hidden_size": 32, "intermediate_size": 64, "vocab_size": 100, "bos_token_id": 0, "eos_token_id": 1,
         "pad_token_id": 2, "seed": 0}  # fmt: skip
BERT = {"model_type": "bert", "num_hidden_layers": 2, "num_attention_heads": 2, "hidden_size": 32,
        "intermediate_size": 64, "vocab_size": 100, "max_position_embeddings": 64, "seed": 0}  # fmt: skip
CONFIGS = {"gpt2": GPT2, "llama": LLAMA, "bert": BERT}


def _ids(batch: int = 3, length: int = 9, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 100, (batch, length), generator=g), torch.ones(batch, length, dtype=torch.long)


@pytest.mark.parametrize("name", ["gpt2", "llama", "bert"])
def test_hooked_mha_result_rebuilds_the_hidden_states(name: str) -> None:
    lm = load_backbone(CONFIGS[name]).model
    ids, mask = _ids()
    a = block_features(lm, ids, mask, "mha")
    with torch.no_grad():
        hs = lm(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        n = lm.config.num_hidden_layers
        assert a.shape == (3, n, 9, 32) and len(hs) == n + 1
        for i in range(n):
            h, a_i = hs[i], a[:, i]
            if name == "gpt2":
                blk = lm.h[i]
                x = h + a_i
                y = x + blk.mlp(blk.ln_2(x))
                y = lm.ln_f(y) if i == n - 1 else y
            elif name == "llama":
                blk = lm.layers[i]
                x = h + a_i
                y = x + blk.mlp(blk.post_attention_layernorm(x))
                y = lm.norm(y) if i == n - 1 else y
            else:
                blk = lm.encoder.layer[i]
                x = blk.attention.output.LayerNorm(h + a_i)
                y = blk.output(blk.intermediate(x), x)
            torch.testing.assert_close(y, hs[i + 1], atol=1e-5, rtol=0)
            # the hooked result is not the block input, nor its output: the hook point is the attention result
            assert not torch.allclose(a_i, hs[i + 1], atol=1e-3)


def test_bert_hook_is_the_dense_output_not_the_attention_module() -> None:
    lm = load_backbone(BERT).model
    assert mha_modules(lm)[0] is lm.encoder.layer[0].attention.output.dense
    ids, mask = _ids()
    default = block_features(lm, ids, mask, "mha")
    module = block_features(lm, ids, mask, "mha", hook_path="encoder.layer.{i}.attention")
    assert not torch.allclose(default, module, atol=1e-3)  # that one is LayerNorm(residual + MHA)


def test_hook_path_override_reads_the_named_module() -> None:
    lm = load_backbone(GPT2).model
    ids, mask = _ids()
    # GPT-2's attention output is resid_dropout(c_proj(...)); in eval mode both modules give the same tensor
    torch.testing.assert_close(
        block_features(lm, ids, mask, "mha", hook_path="h.{i}.attn.c_proj"), block_features(lm, ids, mask, "mha"),
        atol=0, rtol=0,
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"\{i\}"):
        mha_modules(lm, "h.0.attn")
    with pytest.raises(ConfigError, match="no module"):
        mha_modules(lm, "h.{i}.nothing")


def test_hidden_features_are_the_block_outputs() -> None:
    lm = load_backbone(LLAMA).model
    ids, mask = _ids()
    mask[1, 6:] = 0
    h = block_features(lm, ids, mask, "hidden")
    with torch.no_grad():
        hs = lm(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    expected = torch.stack(hs[1:], 1) * mask[:, None, :, None]
    torch.testing.assert_close(h, expected, atol=0, rtol=0)
    assert bool((h[1, :, 6:] == 0).all())


@pytest.mark.parametrize("name", ["gpt2", "llama", "bert"])
@pytest.mark.parametrize("features", ["mha", "hidden"])
def test_right_padding_leaves_real_tokens_unchanged(name: str, features: str) -> None:
    lm = load_backbone(CONFIGS[name]).model
    ids, mask = _ids(length=6)
    padded = torch.cat([ids, torch.full((3, 5), 2)], 1)
    pmask = torch.cat([mask, torch.zeros(3, 5, dtype=torch.long)], 1)
    a = block_features(lm, ids, mask, features)
    b = block_features(lm, padded, pmask, features)
    torch.testing.assert_close(b[:, :, :6], a, atol=1e-5, rtol=0)
    assert bool((b[:, :, 6:] == 0).all())


@pytest.mark.parametrize("name", ["gpt2", "llama", "bert"])
def test_extraction_is_batch_order_equivariant(name: str) -> None:
    lm = load_backbone(CONFIGS[name]).model
    ids, mask = _ids(batch=4)
    mask[2, 5:] = 0
    order = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(
        block_features(lm, ids[order], mask[order], "mha"), block_features(lm, ids, mask, "mha")[order],
        atol=1e-6, rtol=0,
    )  # fmt: skip


def test_backbone_revision_is_the_weights_fingerprint_and_is_checked() -> None:
    a, b = load_backbone(GPT2), load_backbone({**GPT2, "seed": 1})
    assert a.revision.startswith("sha256:") and a.revision == fingerprint(a.model)
    assert a.revision != b.revision  # other weights, other revision
    assert load_backbone(GPT2, a.revision) is not None  # the recorded revision loads
    with pytest.raises(WeightsError, match="trained on revision"):
        load_backbone(GPT2, b.revision)
    with pytest.raises(ConfigError, match="40-hex Hub commit"):
        load_backbone(GPT2, "main")
    with pytest.raises(ConfigError, match="fingerprint"):
        load_backbone(GPT2, "0" * 40)  # a Hub commit for a local backbone


def test_probe_checks_the_backbone_it_reads() -> None:
    ok = zoo.create_model("copylens_probe", backbone=GPT2, d_model=32, num_layers=2)
    assert ok.backbone().d_model == 32
    wrong = zoo.create_model("copylens_probe", backbone=GPT2, d_model=64, num_layers=2)
    with pytest.raises(ConfigError, match="hidden size 32 and 2 blocks"):
        wrong.backbone()
    unknown = zoo.create_model("copylens_probe", backbone={**GPT2, "seed": 3}, backbone_revision="sha256:" + "0" * 64,
                               d_model=32, num_layers=2)  # fmt: skip
    with pytest.raises(WeightsError):
        unknown.extract(["some text"])


def test_bad_backbone_names_are_clear() -> None:
    from zoo_copylens.backbone import parse_backbone

    with pytest.raises(ConfigError, match="not installed"):
        parse_backbone("package://no_such_package_xyz/model")
    with pytest.raises(ConfigError, match="neither"):
        parse_backbone("not a model id")
    with pytest.raises(ConfigError, match="model_type"):
        parse_backbone({"n_layer": 2})
    with pytest.raises(ConfigError, match="model_type"):
        zoo.create_model("copylens_probe", backbone={"n_layer": 2})
    assert parse_backbone("openai-community/gpt2").kind == "hub"


def test_extract_and_texts_end_to_end_padding_invariant() -> None:
    """p of a text does not depend on how much padding its window has (max_length) nor on its batch."""
    texts = ["short", "a somewhat longer text", "x"]
    kw = {"backbone": GPT2, "d_model": 32, "num_layers": 2, "hidden_size": 16, "num_classes": 3}
    torch.manual_seed(0)
    short = zoo.create_model("copylens_probe", max_length=24, **kw).eval()
    long = zoo.create_model("copylens_probe", max_length=40, **kw).eval()
    long.load_state_dict(short.state_dict())
    fa, ma = short.extract(texts)
    fb, mb = long.extract(texts)
    assert fa.shape == (3, 2, 24, 32) and fb.shape == (3, 2, 40, 32)
    assert ma.sum(1).tolist() == [5, 22, 1]  # bytes of each text (the tiny LM's byte tokenizer)
    with torch.no_grad():
        pa, pb = torch.softmax(short(fa, ma)[:, 0], 1), torch.softmax(long(fb, mb)[:, 0], 1)
        torch.testing.assert_close(pa, pb, atol=1e-6, rtol=0)
        f1, m1 = short.extract(texts[1:2])
        torch.testing.assert_close(torch.softmax(short(f1, m1)[:, 0], 1), pa[1:2], atol=1e-6, rtol=0)


def test_fixed_seeds_give_identical_contributions() -> None:
    def run() -> torch.Tensor:
        torch.manual_seed(0)
        m = zoo.create_model("copylens_probe", backbone=LLAMA, d_model=32, num_layers=2, hidden_size=8).eval()
        f, mask = m.extract(["the same text", "and another"])
        with torch.no_grad():
            return torch.softmax(m(f, mask)[:, 0], 1)

    assert torch.equal(run(), run())


def test_without_transformers_the_probe_works_and_reading_texts_says_what_to_install(monkeypatch) -> None:
    import sys

    from zoo_copylens import backbone

    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.setattr(backbone, "_CACHE", {})
    m = zoo.create_model("copylens_probe", backbone={**GPT2, "seed": 11}, d_model=32, num_layers=2).eval()
    out = m(torch.randn(2, 2, 5, 32))
    assert out.shape == (2, 2, 4)
    with pytest.raises(ConfigError, match=r"zoo-copylens\[hf\]"):
        m.extract(["text"])
