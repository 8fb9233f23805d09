"""kwt: Keyword Transformer (Berg et al. 2021, arXiv:2104.00769), time-domain attention.

Ported from ARM-software/keyword-transformer (kws_streaming/models/kws_transformer.py,
transformer_utils.py): every frame is a token (its C x F features linearly projected),
a class token and learned position embeddings are added, then `depth` post-norm
transformer blocks (LayerNorm eps 1e-6, exact GELU; query/key/value without bias), and a
linear head on the class token. Weights start from a normal of std 0.02 truncated at
2 std, biases at 0, as there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from harness.errors import HarnessError
from harness.models.base import register_model

# KWT-1/2/3: (embedding dim, MLP dim, heads), depth 12 (Berg et al. 2021, Table 1). The
# repository's README lists KWT-1's MLP dim as 128; its model_summary.txt count (607,308)
# is the one 256 gives.
SIZES = {1: (64, 256, 1), 2: (128, 512, 2), 3: (192, 768, 3)}


class Block(nn.Module):
    """Post-norm transformer block: x = LN(x + MHSA(x)); x = LN(x + MLP(x))."""

    def __init__(self, dim: int, mlp_dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        # Written out rather than F.scaled_dot_product_attention: the same maths for ~100
        # tokens, and torch.utils.flop_counter counts these matmuls on every device.
        weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)
        attn = (weights @ v).transpose(1, 2).flatten(2)
        x = self.norm1(x + self.dropout(self.proj(attn)))
        return self.norm2(x + self.dropout(self.mlp(x)))


class KWT(nn.Module):
    """(B, C, F, T') -> (B, n_classes); built for `input_shape` (F, T'): T' + 1 positions."""

    input_dims = 2

    def __init__(self, in_channels: int, n_classes: int, dim: int, mlp_dim: int, heads: int,
                 depth: int = 12, input_shape: Sequence[int] = (40, 98),
                 dropout: float = 0.0) -> None:
        super().__init__()
        n_freq, n_frames = input_shape
        self.embed = nn.Linear(in_channels * n_freq, dim)
        self.cls = nn.Parameter(torch.empty(1, 1, dim))
        self.pos = nn.Parameter(torch.empty(1, n_frames + 1, dim))
        self.blocks = nn.Sequential(*(Block(dim, mlp_dim, heads, dropout) for _ in range(depth)))
        self.head = nn.Linear(dim, n_classes)
        for name, p in self.named_parameters():
            if name.endswith("bias") or ".norm" in name:
                continue  # biases 0 and LayerNorm (1, 0): PyTorch's own init already
            nn.init.trunc_normal_(p, std=0.02, a=-0.04, b=0.04)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.embed(x.flatten(1, 2).transpose(1, 2))   # (B, T', dim)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1) + self.pos
        return self.head(self.blocks(tokens)[:, 0])


@register_model(family="transformer", source="Berg et al. 2021, arXiv:2104.00769; "
                "ARM-software/keyword-transformer kws_streaming/models/kws_transformer.py",
                frontend="mfcc", frontend_opts={"n_mfcc": 40, "n_mels": 40})
def kwt(in_channels: int, n_classes: int, size: int = 1, input_shape: Sequence[int] = (40, 98),
        dropout: float = 0.0) -> KWT:
    """Keyword Transformer KWT-1/2/3 (Berg et al. 2021): attention over frames, `size` 1-3."""
    if size not in SIZES:
        raise HarnessError(f"kwt size={size!r}: use 1, 2 or 3 (KWT-1, KWT-2, KWT-3)")
    dim, mlp_dim, heads = SIZES[size]
    return KWT(in_channels, n_classes, dim, mlp_dim, heads, 12, input_shape, dropout)
