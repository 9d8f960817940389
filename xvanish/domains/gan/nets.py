"""n independent MLPs as one batched network: stacked parameters, ``torch.baddbmm`` per layer.

Parameters are a flat list ``[W¹, b¹, W², b², …]`` with a leading draw dimension
(``W^l`` [n, out, in], ``b^l`` [n, out]): the order of ``nn.Sequential(nn.Linear, …)
.parameters()``, so draw i flattened is draw i's ``parameters_to_vector``. One forward,
one backward and one ``torch.optim.Adam`` step serve all n draws: Adam is elementwise, so
an optimiser over the stacked tensors *is* n independent optimisers (tests/domains/test_gan.py
holds it to a loop of ``nn.Module``\\ s to 1e-10 in float64).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["ACTIVATIONS", "LEAKY_SLOPE", "MLP", "flat", "init_mlp", "jacobian_sq_norms"]

Tensor = torch.Tensor

#: Slope of the leaky ReLU (DCGAN's discriminator, Radford et al. 2016).
LEAKY_SLOPE = 0.2

#: Hidden activations and their derivatives as functions of the pre-activation.
ACTIVATIONS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "relu": (torch.relu, lambda h: (h > 0).to(h.dtype)),
    "leaky_relu": (lambda h: F.leaky_relu(h, LEAKY_SLOPE),
                   lambda h: torch.where(h > 0, torch.ones_like(h), torch.full_like(h, LEAKY_SLOPE))),
    "tanh": (torch.tanh, lambda h: 1 - torch.tanh(h).square()),
    "linear": (lambda h: h, torch.ones_like),
}


class MLP:
    """Layer sizes and activations of a batch of MLPs; the parameters are passed in.

    Attributes:
        sizes: ``[in, hidden…, out]``.
        activation: hidden activation (a key of :data:`ACTIVATIONS`).
        output: activation of the last layer (``linear`` or ``tanh``).
    """

    def __init__(self, sizes: Sequence[int], activation: str, output: str = "linear") -> None:
        self.sizes, self.activation, self.output = list(sizes), activation, output

    def pre_activations(self, params: Sequence[Tensor], x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Per layer its input u^l [n, B, in_l] and pre-activation h^l = W^l u^l + b^l."""
        phi, _ = ACTIVATIONS[self.activation]
        inputs, pres, u = [], [], x
        for index in range(len(params) // 2):
            if index:
                u = phi(pres[-1])
            inputs.append(u)
            pres.append(torch.baddbmm(params[2 * index + 1].unsqueeze(1), u, params[2 * index].transpose(1, 2)))
        return inputs, pres

    def forward(self, params: Sequence[Tensor], x: Tensor) -> Tensor:
        """Outputs ``[n, B, out]`` of the n networks for inputs ``x`` [n, B, in]."""
        _, pres = self.pre_activations(params, x)
        return ACTIVATIONS[self.output][0](pres[-1])

    def logits(self, params: Sequence[Tensor], x: Tensor) -> Tensor:
        """D's pre-sigmoid output f ``[n, B]`` (a one-output network)."""
        return self.forward(params, x).squeeze(-1)


def init_mlp(sizes: Sequence[int], n: int, generator: torch.Generator, dtype: torch.dtype,
             device: torch.device) -> list[Tensor]:
    """Parameters of n MLPs with PyTorch's ``nn.Linear`` default init: W, b ~ U(±1/√fan_in).

    Drawn in float64 and rounded to ``dtype`` (the same networks in float32 and float64).
    """
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        for shape in ((n, fan_out, fan_in), (n, fan_out)):
            value = torch.empty(shape, dtype=torch.float64, device=device).uniform_(-bound, bound, generator=generator)
            params.append(value.to(dtype))
    return params


def flat(tensors: Sequence[Tensor]) -> Tensor:
    """``[n, P]``: each draw's tensors flattened and concatenated (``parameters_to_vector`` order)."""
    return torch.cat([t.reshape(t.shape[0], -1) for t in tensors], dim=1)


def jacobian_sq_norms(net: MLP, params: Sequence[Tensor], z: Tensor) -> Tensor:
    """‖J_θ G(z_b)‖²_F for every draw and sample, ``[n, B]``, without forming J.

    For a dense layer h = W u + b, ∂G_o/∂W = δ_o uᵀ and ∂G_o/∂b = δ_o with δ_o = ∂G_o/∂h, so
    the layer contributes Σ_o ‖δ_o‖² (‖u‖² + 1) (Goodfellow 2015, "Efficient per-example
    gradient computations"). δ for all outputs o at once is the matrix ∂G/∂h [out, width],
    propagated backwards through the layers: memory n·B·out·width, not n·B·out·P.
    """
    _, dphi = ACTIVATIONS[net.activation]
    _, dlast = ACTIVATIONS[net.output]
    inputs, pres = net.pre_activations(params, z)
    count = len(pres)
    # delta [n, B, out, width_l] = ∂G/∂h^l
    delta = torch.diag_embed(dlast(pres[-1]))
    total = torch.zeros(z.shape[:2], dtype=z.dtype, device=z.device)
    for index in reversed(range(count)):
        total = total + delta.square().sum(dim=(2, 3)) * (inputs[index].square().sum(dim=2) + 1)
        if index > 0:
            delta = torch.matmul(delta, params[2 * index].unsqueeze(1)) * dphi(pres[index - 1]).unsqueeze(2)
    return total
