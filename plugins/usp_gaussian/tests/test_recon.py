"""The Recon-Nets: layer order and parameter counts, the window / voxel / index bookkeeping, official state dicts
(aliased seq.* keys) and zoo convert --official."""

from __future__ import annotations

import json

import pytest
import torch
import zoo_core as zoo
from torch import nn
from zoo_core.cli import main
from zoo_core.sdk import InputError
from zoo_core.testing import check_model

from zoo_usp_gaussian import recon


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU(True))


class OfficialSingle(nn.Module):
    """The official SpkRecon_Net's structure (from its description): named blocks also held in ``seq``."""

    def __init__(self, input_dim: int = 41):
        super().__init__()
        self.convBlock1, self.convBlock2 = _block(input_dim, 64), _block(64, 128)
        self.convBlock3, self.convBlock4 = _block(128, 64), _block(64, 16)
        self.conv = nn.Conv2d(16, 1, 3, 1, 1)
        self.seq = nn.Sequential(
            self.convBlock1, self.convBlock2, self.convBlock3, self.convBlock4, self.conv
        )

    def forward(self, spike: torch.Tensor) -> torch.Tensor:
        return self.seq(spike)


class OfficialMulti(nn.Module):
    """The official Multi_SpkRecon_Net's structure: two stems, feature = voxel + spike + index, then ``seq``."""

    def __init__(self, input_dim: int = 41, voxel_dim: int = 34):
        super().__init__()
        self.preprocess_spk, self.preprocess_voxel = _block(input_dim, 64), _block(voxel_dim, 64)
        self.convBlock1, self.convBlock2, self.convBlock3 = _block(64, 128), _block(128, 64), _block(64, 16)
        self.conv = nn.Conv2d(16, 1, 3, 1, 1)
        self.seq = nn.Sequential(self.convBlock1, self.convBlock2, self.convBlock3, self.conv)

    def forward(self, voxel: torch.Tensor, spike: torch.Tensor, index: float) -> torch.Tensor:
        v = self.preprocess_voxel(voxel)
        s = self.preprocess_spk(spike)
        return self.seq(v + s + index * torch.ones_like(v))


def _official_voxel(clip: torch.Tensor, voxel_dim: int = 34) -> torch.Tensor:
    """The voxel by the official recipe on one clip [T, H, W]: frames 20..-20, drop the middle, [4, 34] sum."""
    v = clip[20:-20]
    v = torch.cat((v[: v.shape[0] // 2], v[v.shape[0] // 2 + 1 :]), dim=0)
    return torch.sum(v[None].reshape(-1, 4, voxel_dim, clip.shape[-2], clip.shape[-1]), dim=1)


def _clip(seed: int = 0, h: int = 12, w: int = 10, dtype=torch.float64) -> torch.Tensor:
    return (torch.rand(177, h, w, generator=torch.Generator().manual_seed(seed)) < 0.3).to(dtype)


def test_parameter_counts_and_layouts() -> None:
    single, multi = zoo.create_model("usp_spkrecon"), zoo.create_model("usp_multi_spkrecon")
    assert sum(p.numel() for p in single.parameters()) == 180_705
    assert sum(p.numel() for p in multi.parameters()) == 200_353
    assert (
        sum(p.numel() for p in recon.MultiSpkReconNet(voxel_dim=27).parameters()) == 196_321
    )  # class default 27
    assert len(single.state_dict()) == 10 and len(multi.state_dict()) == 12
    assert sum(p.numel() for p in OfficialSingle().parameters()) == 180_705
    assert len(OfficialSingle().state_dict()) == 20 and len(OfficialMulti().state_dict()) == 20
    # layer order: no activation after the last convolution, ReLU after every other
    assert [type(m).__name__ for m in single.modules() if not isinstance(m, nn.Sequential)][1:] == [
        "Conv2d", "ReLU"] * 4 + ["Conv2d"]  # fmt: skip


def test_bookkeeping() -> None:
    assert recon.view_centers(13) == list(range(40, 137, 8))
    assert recon.view_centers(7) == list(range(40, 137, 16))
    assert recon.time_index(88) == 0.5 and recon.time_index(40) == 0.0 and recon.time_index(136) == 1.0
    clip = _clip()
    vox = recon.voxel_of(clip)
    assert torch.equal(vox, _official_voxel(clip)[0])
    j = 5  # strided: frames 20+j, 54+j, 89+j, 123+j (frame 88 dropped)
    assert torch.equal(vox[j], clip[20 + j] + clip[54 + j] + clip[89 + j] + clip[123 + j])
    assert torch.equal(recon.window_of(clip, 88), clip[68:109])
    with pytest.raises(InputError):
        recon.window_of(clip, 10)
    with pytest.raises(InputError):
        recon.voxel_of(clip[:170])


def test_single_net_equals_the_official_structure_in_float64() -> None:
    torch.manual_seed(0)
    off = OfficialSingle().double().eval()
    sd = off.state_dict()
    assert len(sd) == 20
    ours = zoo.create_model("usp_spkrecon").double().eval()
    ours.load_state_dict(zoo.from_official("usp_spkrecon", sd))
    clip = _clip()[None]
    with torch.no_grad():
        ref = off(clip[:, 68:109])
        assert torch.equal(ours(clip), ref)  # the mid-exposure window of a 177-frame clip
        assert torch.equal(ours(clip[:, 68:109]), ref)  # a 41-frame window as it is
        views = ours.reconstruct_views(clip, [40, 88, 136])
        assert torch.equal(views[2], off(clip[:, 116:157]))


def test_multi_net_equals_the_official_structure_in_float64() -> None:
    torch.manual_seed(1)
    off = OfficialMulti().double().eval()
    ours = zoo.create_model("usp_multi_spkrecon").double().eval()
    ours.load_state_dict(zoo.from_official("usp_multi_spkrecon", off.state_dict()))
    clip = _clip(2)
    voxel = _official_voxel(clip)
    with torch.no_grad():
        for c in (40, 88, 136, 64):
            ref = off(voxel, clip[None, c - 20 : c + 21], (c - 40) / 96)
            assert torch.equal(ours(clip[None], center=c), ref)
            assert torch.equal(ours.forward_official(voxel, clip[None, c - 20 : c + 21], (c - 40) / 96), ref)
        batched = ours.reconstruct_views(clip[None], recon.view_centers(13))
        for i, c in enumerate(recon.view_centers(13)):
            ref = off(voxel, clip[None, c - 20 : c + 21], (c - 40) / 96)
            assert torch.allclose(batched[i], ref, rtol=0, atol=1e-12)


def test_aliases_are_deduplicated_and_seq_wins() -> None:
    sd = OfficialMulti().state_dict()
    sd = {k: v.clone() for k, v in sd.items()}
    sd["seq.3.bias"] = torch.full_like(sd["conv.bias"], 7.0)  # disagrees with conv.bias: seq is loaded last
    out = recon.from_official_multi(sd)
    assert len(out) == 12 and not any(k.startswith("seq.") for k in out)
    assert float(out["conv.bias"]) == 7.0
    wrapped = {f"_model.spike_net.{k}": v for k, v in sd.items()} | {
        "_model.gauss_params.means": torch.zeros(3, 3)
    }
    assert set(recon.from_official_multi(wrapped)) == set(out)
    assert recon.official_config_multi(out) == {"input_dim": 41, "voxel_dim": 34}


def test_zoo_convert_official(tmp_path, capsys) -> None:
    torch.manual_seed(3)
    off = OfficialMulti()
    torch.save(off.state_dict(), tmp_path / "0000.pth")
    out = tmp_path / "converted"
    rc = main(["convert", "--official", str(tmp_path / "0000.pth"), "--model", "usp_multi_spkrecon",
               "--out", str(out), "--allow-pickle", "--tag", "official_test"])  # fmt: skip
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"] == "usp_multi_spkrecon"
    model = zoo.load_pretrained("usp_multi_spkrecon", str(out))
    clip = _clip(4, dtype=torch.float32)
    with torch.no_grad():
        ref = off.eval()(_official_voxel(clip), clip[None, 68:109], 0.5)
        assert torch.allclose(model.eval()(clip[None]), ref, atol=1e-6)


@pytest.mark.parametrize("name", ["usp_spkrecon", "usp_multi_spkrecon"])
def test_conformance(name) -> None:
    check_model(name)


def test_bad_input() -> None:
    multi = zoo.create_model("usp_multi_spkrecon")
    with pytest.raises(InputError, match="177"):
        multi(torch.zeros(1, 100, 8, 8))
    with pytest.raises(InputError, match="float"):
        multi(torch.zeros(1, 177, 8, 8, dtype=torch.int64))
    with pytest.raises(InputError, match="window"):
        multi(torch.zeros(1, 177, 8, 8), center=5)
