"""The shared QCFS backbones (zoo_core.models.qcfs): official key layout and the block's equation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo_core.checks import check_positive_int
from zoo_core.errors import ConfigError
from zoo_core.models.qcfs import (
    VGG13_CFG,
    VGG16_CFG,
    QCFSBasicBlock,
    init_qcfs_vgg,
    qcfs_resnet_stages,
    qcfs_vgg_groups,
    scaled_width,
)


def _relu(_: int) -> nn.Module:
    return nn.ReLU()


def _bn(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    return (x - bn.running_mean[:, None, None]) / torch.sqrt(
        bn.running_var[:, None, None] + bn.eps
    ) * bn.weight[:, None, None] + bn.bias[:, None, None]


@pytest.mark.parametrize("stride,c_in,c_out", [(1, 4, 4), (2, 4, 6)])
def test_basic_block_equation(stride: int, c_in: int, c_out: int) -> None:
    torch.manual_seed(0)
    block = QCFSBasicBlock(_relu, c_in, c_out, stride).double().eval()
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    x = torch.randn(2, c_in, 6, 6, dtype=torch.float64)
    r = block.residual_function
    h = F.relu(_bn(F.conv2d(x, r[0].weight, stride=stride, padding=1), r[1]))
    h = _bn(F.conv2d(h, r[3].weight, padding=1), r[4])
    s = (
        x
        if len(block.shortcut) == 0
        else _bn(F.conv2d(x, block.shortcut[0].weight, stride=stride), block.shortcut[1])
    )
    torch.testing.assert_close(block(x), F.relu(h + s), rtol=0, atol=1e-12)
    assert (len(block.shortcut) == 0) == (stride == 1 and c_in == c_out)


def test_resnet20_stage_layout_and_count() -> None:
    sites: list[int] = []

    def act(c: int) -> nn.Module:
        sites.append(c)
        return nn.ReLU()

    stages = qcfs_resnet_stages(act, 16, (16, 32, 64), (3, 3, 3))
    keys = set(nn.ModuleList(stages).state_dict())
    assert "1.0.shortcut.0.weight" in keys and "0.0.shortcut.0.weight" not in keys
    assert stages[1][0].residual_function[0].stride == (2, 2) and stages[0][0].residual_function[
        0
    ].stride == (1, 1)
    assert sites == [16] * 6 + [32] * 6 + [64] * 6  # two activations per block, construction order
    # ResNet-20 body: 272,474 parameters with the 3->16 stem (432 + 32) and fc 64->10 (650), as officially
    body = sum(p.numel() for s in stages for p in s.parameters())
    assert body + 432 + 32 + 650 == 272_474


def test_vgg_groups_layout() -> None:
    groups, c = qcfs_vgg_groups(VGG16_CFG, 3, _relu, dropout=0.1)
    assert c == 512 and len(groups) == 5
    assert [type(m).__name__ for m in groups[0]] == ["Conv2d", "BatchNorm2d", "ReLU", "Dropout"] * 2 + [
        "AvgPool2d"
    ]
    assert groups[0][0].bias is not None and groups[0][3].p == 0.1
    init_qcfs_vgg(groups[0])
    assert torch.all(groups[0][1].weight == 1) and torch.all(groups[0][1].bias == 0)
    groups13, _ = qcfs_vgg_groups(VGG13_CFG, 3, _relu, width_mult=0.25)
    assert groups13[4][0].out_channels == scaled_width(512, 0.25) == 128


def test_check_positive_int() -> None:
    assert check_positive_int(3, "n", "who") == 3
    for bad in (0, -1, True, 2.0, "3"):
        with pytest.raises(ConfigError, match="who: n must be a positive integer"):
            check_positive_int(bad, "n", "who")
