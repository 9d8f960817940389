"""Transformer encoders from torch's own ``nn.TransformerEncoderLayer``: post-LN and pre-LN.

Post-LN (Vaswani et al. 2017; ``norm_first=False``) normalises after each residual
addition, x ↦ LN(x + F(x)); pre-LN (``norm_first=True``) normalises each branch's input,
x ↦ x + F(LN(x)), and a final LayerNorm follows the last layer. Xiong et al. 2020 ("On
layer normalization in the Transformer architecture", ICML) show that at initialisation
the gradient of the last layers' parameters of a post-LN encoder does not shrink with the
depth L (hence the learning-rate warm-up it needs), while for pre-LN it scales like
1/√L (variance ~ 1/L). ``experiment=transformer_ln`` measures both.

Dropout is 0 (the gradient at initialisation, as in Xiong et al.; a dropout model also
runs, on the per-draw loop). Inputs are ``[batch, sequence, d_model]`` (``batch_first``).

Example:
    >>> from xvanish.examples.transformer import encoder
    >>> model = encoder(depth=2, d_model=8, nhead=2, dim_feedforward=16)
    >>> len(model.layers)
    2
"""

import torch
from torch import nn

__all__ = ["Encoder", "encoder", "post_ln", "pre_ln"]


class Encoder(nn.Module):
    """``depth`` encoder layers in ``layers``, then a final LayerNorm for pre-LN (else identity)."""

    def __init__(
        self, depth: int, d_model: int, nhead: int, dim_feedforward: int, norm_first: bool, dropout: float
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model, nhead, dim_feedforward, dropout=dropout, batch_first=True, norm_first=norm_first
            )
            for _ in range(depth)
        )
        # Pre-LN leaves the residual stream unnormalised: Xiong et al. (and GPT-2) end with a LayerNorm.
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


def encoder(
    depth: int = 6,
    d_model: int = 64,
    nhead: int = 4,
    dim_feedforward: int = 128,
    norm_first: bool = False,
    dropout: float = 0.0,
) -> Encoder:
    """A freshly initialised :class:`Encoder` (torch's default initialisation of each layer).

    Args:
        depth: number of encoder layers L (>= 1).
        d_model: model width.
        nhead: attention heads (divides ``d_model``).
        dim_feedforward: hidden width of each feed-forward block.
        norm_first: pre-LN (True) or post-LN (False).
        dropout: dropout probability of every layer.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    return Encoder(depth, d_model, nhead, dim_feedforward, norm_first, dropout)


def post_ln(
    depth: int = 6, d_model: int = 64, nhead: int = 4, dim_feedforward: int = 128, dropout: float = 0.0
) -> Encoder:
    """:func:`encoder` with ``norm_first=False`` (post-LN, Vaswani et al. 2017)."""
    return encoder(depth, d_model, nhead, dim_feedforward, False, dropout)


def pre_ln(
    depth: int = 6, d_model: int = 64, nhead: int = 4, dim_feedforward: int = 128, dropout: float = 0.0
) -> Encoder:
    """:func:`encoder` with ``norm_first=True`` (pre-LN, Xiong et al. 2020)."""
    return encoder(depth, d_model, nhead, dim_feedforward, True, dropout)
