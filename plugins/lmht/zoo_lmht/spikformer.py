r"""LM-HT Spikformer ("Transformer-4-384", official ``models/Spikformer.py``): ``lmht_spikformer_4_384``.

Spikformer (Zhou et al. 2023) with every activation an :class:`~zoo_lmht.neurons.LMHTNeuron` (theta = 2/L,
v0 = 0; ``replace_activation_by_LMHT``). ``patch_embed`` (SPS): conv3x3 (3 -> D/8) + BN computed once on the
image and repeated ``T`` times, neuron, then per step conv -> BN -> neuron for D/4, D/2 (+ max-pool), D
(+ max-pool), relative position conv ``rpe_*`` added to its input; tokens ``[T, B, N, D]``. ``block``: ``depths``
blocks of SSA (q/k/v linear + BatchNorm1d + neuron, ``attn = q k^T * 0.125`` without softmax, ``attn_lif``,
``proj_*``) and MLP (``fc1_*``, ``fc2_*``, ratio 4), both residual. Readout: mean over tokens, ``head``.
Token neurons see ``[T, B, N, C]`` and use ``mask_linear``; conv neurons use ``mask``. Keys and parameter counts
equal the official ones (9,325,060 for CIFAR-10 at T = 2).
"""

from __future__ import annotations

from torch import Tensor, nn

from zoo_core.sdk import ConfigError, check_positive_int

from .base import LMHTNet

__all__ = ["LMHTSpikformer"]


class MLP(nn.Module):
    def __init__(self, net: LMHTNet, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1_linear = nn.Linear(dim, hidden)
        self.fc1_bn = nn.BatchNorm1d(hidden)
        self.fc1_lif = net.neuron(None, 0.0, 4)
        self.fc2_linear = nn.Linear(hidden, dim)
        self.fc2_bn = nn.BatchNorm1d(dim)
        self.fc2_lif = net.neuron(None, 0.0, 4)
        self.c_hidden = hidden

    def forward(self, x: Tensor) -> Tensor:
        T, B, N, C = x.shape
        x = self.fc1_linear(x.flatten(0, 1))
        x = self.fc1_bn(x.transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, self.c_hidden)
        x = self.fc1_lif(x)
        x = self.fc2_linear(x.flatten(0, 1))
        x = self.fc2_bn(x.transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, C)
        return self.fc2_lif(x)


class SSA(nn.Module):
    def __init__(self, net: LMHTNet, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = 0.125
        for n in ("q", "k", "v"):
            setattr(self, f"{n}_linear", nn.Linear(dim, dim))
            setattr(self, f"{n}_bn", nn.BatchNorm1d(dim))
            setattr(self, f"{n}_lif", net.neuron(None, 0.0, 4))
        self.attn_lif = net.neuron(None, 0.0, 4)
        self.proj_linear = nn.Linear(dim, dim)
        self.proj_bn = nn.BatchNorm1d(dim)
        self.proj_lif = net.neuron(None, 0.0, 4)

    def _qkv(self, n: str, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        T, B, N, C = shape
        y = getattr(self, f"{n}_linear")(x)
        y = getattr(self, f"{n}_bn")(y.transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, C)
        y = getattr(self, f"{n}_lif")(y)
        # contiguous as officially: the matmul backward then sums in the same order (float64 grads bit-equal)
        return y.reshape(T, B, N, self.num_heads, C // self.num_heads).permute(0, 1, 3, 2, 4).contiguous()

    def forward(self, x: Tensor) -> Tensor:
        T, B, N, C = x.shape
        flat = x.flatten(0, 1)
        q, k, v = (self._qkv(n, flat, (T, B, N, C)) for n in ("q", "k", "v"))
        x = (q @ k.transpose(-2, -1)) * self.scale @ v
        x = self.attn_lif(x.transpose(2, 3).reshape(T, B, N, C))
        x = self.proj_linear(x.flatten(0, 1))
        return self.proj_lif(self.proj_bn(x.transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, C))


class Block(nn.Module):
    def __init__(self, net: LMHTNet, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.attn = SSA(net, dim, num_heads)
        self.mlp = MLP(net, dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class SPS(nn.Module):
    def __init__(self, net: LMHTNet, in_channels: int, dim: int) -> None:
        super().__init__()
        self.T = net.T
        chans = [in_channels, dim // 8, dim // 4, dim // 2, dim]
        for i, suffix in enumerate(("", "1", "2", "3")):
            setattr(self, f"proj_conv{suffix}", nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, bias=False))
            setattr(self, f"proj_bn{suffix}", nn.BatchNorm2d(chans[i + 1]))
            setattr(self, f"proj_lif{suffix}", net.neuron(None, 0.0, 5))
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.maxpool3 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.rpe_conv = nn.Conv2d(dim, dim, 3, padding=1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(dim)
        self.rpe_lif = net.neuron(None, 0.0, 5)

    def _step(self, i: str, x: Tensor, T: int, B: int, pool: nn.Module | None) -> Tensor:
        x = getattr(self, f"proj_bn{i}")(getattr(self, f"proj_conv{i}")(x))
        x = getattr(self, f"proj_lif{i}")(x.unflatten(0, (T, B))).flatten(0, 1)
        return x if pool is None else pool(x)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4:  # static image: stem once, repeated T times (official)
            x = self.proj_bn(self.proj_conv(x)).unsqueeze(0).repeat(self.T, 1, 1, 1, 1)
        else:
            t, b = x.shape[:2]
            x = self.proj_bn(self.proj_conv(x.flatten(0, 1))).unflatten(0, (t, b))
        T, B = x.shape[:2]
        x = self.proj_lif(x).flatten(0, 1)
        x = self._step("1", x, T, B, None)
        x = self._step("2", x, T, B, self.maxpool2)
        x = self._step("3", x, T, B, self.maxpool3)
        feat = x.unflatten(0, (T, B))
        x = self.rpe_lif(self.rpe_bn(self.rpe_conv(x)).unflatten(0, (T, B))) + feat
        return x.flatten(-2).transpose(-1, -2)


class LMHTSpikformer(LMHTNet):
    """LM-HT Spikformer for CIFAR (official ``spikformer_cifar``: D = 384, 12 heads, 4 blocks, MLP ratio 4).

    Args (keyword-only):
        T, L, num_classes, in_chans, img_size: see :class:`~zoo_lmht.base.LMHTNet` (``img_size`` a multiple
            of 4).
        embed_dims: token width D (divisible by 8 and by ``num_heads``).
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / D.
        depths: number of blocks.
        mode: only ``"lmht"`` (no reparameterisation, see ``reparameterize_refusal``).
    """

    head_name = "head"
    reparameterizable = False
    reparameterize_refusal = (
        "the official procedure does not handle the Spikformer (run against the official code): "
        "replace_layer_bias leaves the BatchNorm1d biases and running means undivided, main.py has no SPS stem fix, "
        "and LMHT_Inference_Neuron's mask_linear [L T, L T, 1, 1] broadcasts the time weights over the batch axis "
        "of the [L T, B, N, C] tokens (it fails unless B = L T, and is wrong then)"
    )

    def __init__(
        self,
        *,
        T: int = 2,
        L: int = 2,
        num_classes: int = 10,
        in_chans: int = 3,
        img_size: int = 32,
        embed_dims: int = 384,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        depths: int = 4,
        mode: str = "lmht",
    ) -> None:
        super().__init__(T=T, L=L, num_classes=num_classes, in_chans=in_chans, img_size=img_size, mode=mode)
        who = type(self).__name__
        if mode != "lmht":
            raise ConfigError(f"{who}: only mode='lmht' (reparameterisation not supported)")
        embed_dims = check_positive_int(embed_dims, "embed_dims", who)
        if embed_dims % 8 or embed_dims % check_positive_int(num_heads, "num_heads", who):
            raise ConfigError(f"{who}: embed_dims must be divisible by 8 and by num_heads")
        if img_size % 4:
            raise ConfigError(f"{who}: img_size must be a multiple of 4, got {img_size}")
        self.patch_embed = SPS(self, in_chans, embed_dims)
        self.block = nn.ModuleList(
            [
                Block(self, embed_dims, num_heads, mlp_ratio)
                for _ in range(check_positive_int(depths, "depths", who))
            ]
        )
        self.head = nn.Linear(embed_dims, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

    def forward_features(self, x: Tensor) -> Tensor:
        """Token features averaged over the tokens, per step: ``[T, B, embed_dims]`` (what ``head`` receives)."""
        if isinstance(x, Tensor) and x.dim() == 4:
            self.encode(x)  # validation
            h = self.patch_embed(x)
        else:
            h = self.patch_embed(self._sequence(x))
        for blk in self.block:
            h = blk(h)
        return h.mean(2)

    def _head_steps(self, h: Tensor) -> Tensor:
        T, B, C = h.shape
        return self.head(h.reshape(-1, C)).view(T, B, -1)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Logits ``[B, num_classes]`` from :meth:`forward_features` (mean over time of the per-step head)."""
        return x if pre_logits else self._head_steps(x).mean(0)

    def forward_steps(self, x: Tensor) -> Tensor:
        return self._head_steps(self.forward_features(x))
