"""n independent MLPs as one batched network: stacked parameters, ``torch.baddbmm`` per layer.

Parameters are a flat list ``[W¹, b¹, W², b², …]`` with a leading draw dimension
(``W^l`` [n, out, in], ``b^l`` [n, out]): the order of ``nn.Sequential(nn.Linear, …)
.parameters()``, so draw i flattened is draw i's ``parameters_to_vector``. One forward,
one backward and one ``torch.optim.Adam`` step serve all n draws: Adam is elementwise, so
an optimiser over the stacked tensors *is* n independent optimisers (tests/domains/test_gan.py
holds it to a loop of ``nn.Module``\\ s to 1e-10 in float64). For training, :func:`pack`
puts all the tensors in one flat tensor (one Adam kernel for all of them) and
:class:`Backprop` is a hand-written backward pass into buffers allocated once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F

from xvanish.draws import DrawStream

__all__ = [
    "ACTIVATIONS",
    "LEAKY_SLOPE",
    "MLP",
    "Activation",
    "Backprop",
    "affine",
    "flat",
    "init_mlp",
    "jacobian_sq_norms",
    "pack",
    "views",
]

Tensor = torch.Tensor
aten = torch.ops.aten

#: Slope of the leaky ReLU (DCGAN's discriminator, Radford et al. 2016).
LEAKY_SLOPE = 0.2


class Activation(NamedTuple):
    """An activation φ in the forms the networks need.

    Attributes:
        function: φ(h).
        derivative: φ'(h), from the pre-activation (per-sample Jacobians).
        function_: φ applied in place.
        backward: ``(grad, φ(h))`` -> grad·φ'(h), written into ``grad``: φ' recovered from the
            output (so the pre-activation need not be kept) by the kernel autograd itself uses.
    """

    function: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor], Tensor]
    function_: Callable[[Tensor], Tensor]
    backward: Callable[[Tensor, Tensor], Tensor]


def _identity(h: Tensor) -> Tensor:
    return h


#: Hidden (and output) activations.
ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(
        torch.relu,
        lambda h: (h > 0).to(h.dtype),
        torch.relu_,
        lambda grad, out: aten.threshold_backward.grad_input(grad, out, 0, grad_input=grad),
    ),
    "leaky_relu": Activation(
        lambda h: F.leaky_relu(h, LEAKY_SLOPE),
        lambda h: torch.where(h > 0, torch.ones_like(h), torch.full_like(h, LEAKY_SLOPE)),
        lambda h: F.leaky_relu_(h, LEAKY_SLOPE),
        lambda grad, out: aten.leaky_relu_backward.grad_input(grad, out, LEAKY_SLOPE, True, grad_input=grad),
    ),
    "tanh": Activation(
        torch.tanh,
        lambda h: 1 - torch.tanh(h).square(),
        torch.tanh_,
        lambda grad, out: aten.tanh_backward.grad_input(grad, out, grad_input=grad),
    ),
    "linear": Activation(_identity, torch.ones_like, _identity, lambda grad, out: grad),
}


def affine(weight: Tensor, bias: Tensor, u: Tensor, out: Tensor | None = None) -> Tensor:
    """h = W u + b for every draw and sample, ``[n, B, out]`` from ``u`` [n, B, in]."""
    if u.shape[2] == 1:  # an outer product: 5× faster as a broadcast multiply-add than as MKL's bmm
        return torch.addcmul(bias.unsqueeze(1), u, weight.transpose(1, 2), out=out)
    return torch.baddbmm(bias.unsqueeze(1), u, weight.transpose(1, 2), out=out)


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
        phi = ACTIVATIONS[self.activation].function
        inputs, pres, u = [], [], x
        for index in range(len(params) // 2):
            if index:
                u = phi(pres[-1])
            inputs.append(u)
            pres.append(affine(params[2 * index], params[2 * index + 1], u))
        return inputs, pres

    def forward(self, params: Sequence[Tensor], x: Tensor) -> Tensor:
        """Outputs ``[n, B, out]`` of the n networks for inputs ``x`` [n, B, in]."""
        _, pres = self.pre_activations(params, x)
        return ACTIVATIONS[self.output].function(pres[-1])

    def logits(self, params: Sequence[Tensor], x: Tensor) -> Tensor:
        """D's pre-sigmoid output f ``[n, B]`` (a one-output network)."""
        return self.forward(params, x).squeeze(-1)


def init_mlp(sizes: Sequence[int], stream: DrawStream, dtype: torch.dtype, device: torch.device) -> list[Tensor]:
    """Parameters of the stream's draws of MLPs with PyTorch's ``nn.Linear`` default init:
    W, b ~ U(±1/√fan_in), ``[n, ...]`` each.

    Drawn in float64 and rounded to ``dtype`` (the same networks in float32 and float64);
    each tensor from the stream's next call, so draw i's network does not depend on n.
    """
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        for shape in ((fan_out, fan_in), (fan_out,)):
            params.append(stream.uniform(shape, -bound, bound, torch.float64).to(device=device, dtype=dtype))
    return params


def flat(tensors: Sequence[Tensor]) -> Tensor:
    """``[n, P]``: each draw's tensors flattened and concatenated (``parameters_to_vector`` order)."""
    return torch.cat([t.reshape(t.shape[0], -1) for t in tensors], dim=1)


def views(buffer: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
    """Consecutive slices of the 1-D ``buffer`` shaped like ``like`` (views: writing one writes the buffer)."""
    out, start = [], 0
    for t in like:
        out.append(buffer[start : start + t.numel()].view(t.shape))
        start += t.numel()
    return out


def pack(tensors: Sequence[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """A copy of ``tensors`` in one flat tensor, and views of it shaped like them: an optimiser
    over the flat tensor updates every parameter in one kernel instead of one per tensor."""
    buffer = torch.cat([t.reshape(-1) for t in tensors])
    return buffer, views(buffer, tensors)


class Backprop:
    """Forward and hand-written backward of n MLPs for inputs ``[n, rows, in]``, in buffers
    allocated once.

    For D 2-64-64-1 × 64 draws, autograd's step spent as much time around the matrix
    products as in them: its graph, copies of transposed weight gradients into ``.grad``,
    and a fresh 2 MB tensor per op, which the C allocator returns to the system and
    page-faults back in at the next step. Here each layer's output and gradient has its
    own buffer, activations are applied in place (their derivative recovered from the
    output), and each parameter gradient is written straight into the given tensors.
    tests/domains/test_gan.py holds it to autograd to 1e-10 in float64.

    Args:
        net: the layer sizes and activations.
        params: the parameters ``[W¹, b¹, …]`` (read at every call: update them in place).
        grads: tensors shaped like ``params`` that :meth:`backward` overwrites.
        rows: samples per draw in every call.
    """

    def __init__(self, net: MLP, params: Sequence[Tensor], grads: Sequence[Tensor], rows: int) -> None:
        n, options = params[0].shape[0], {"dtype": params[0].dtype, "device": params[0].device}
        widths = net.sizes[1:]
        self.params, self.grads = list(params), list(grads)
        self.activations = [ACTIVATIONS[net.activation]] * (len(widths) - 1) + [ACTIVATIONS[net.output]]
        # outputs[l] = φ(h^l); deltas[l] = ∂L/∂h^l of the hidden layers (the last one is the caller's)
        self.outputs = [torch.empty((n, rows, width), **options) for width in widths]
        self.deltas = [torch.empty((n, rows, width), **options) for width in widths[:-1]]
        self.x: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        """The outputs ``[n, rows, out]`` for inputs ``x`` (a buffer: valid until the next call)."""
        self.x = u = x
        for index, (out, activation) in enumerate(zip(self.outputs, self.activations)):
            u = activation.function_(affine(self.params[2 * index], self.params[2 * index + 1], u, out=out))
        return u

    def backward(self, grad_output: Tensor) -> None:
        """Writes ∂L/∂θ into ``grads`` from ``grad_output`` = ∂L/∂(output) ``[n, rows, out]``
        (overwritten) at the inputs of the last :meth:`forward`."""
        delta = self.activations[-1].backward(grad_output, self.outputs[-1])
        for index in reversed(range(len(self.outputs))):
            u = self.outputs[index - 1] if index else self.x
            weight, grad_w, grad_b = self.params[2 * index], self.grads[2 * index], self.grads[2 * index + 1]
            # ∂L/∂W = δᵀu. MKL's batched product is several times slower when its result's
            # last dimension is tiny (2 inputs, 1 output), so the narrow side goes first.
            if u.shape[2] < delta.shape[2]:
                grad_w.copy_(torch.bmm(u.transpose(1, 2), delta).transpose(1, 2))
            else:
                torch.bmm(delta.transpose(1, 2), u, out=grad_w)
            torch.sum(delta, dim=1, out=grad_b)
            if index:
                below = self.deltas[index - 1]
                if delta.shape[2] == 1:  # δW is an outer product, as in affine
                    torch.mul(delta, weight, out=below)
                else:
                    torch.bmm(delta, weight, out=below)
                delta = self.activations[index - 1].backward(below, self.outputs[index - 1])


def jacobian_sq_norms(net: MLP, params: Sequence[Tensor], z: Tensor) -> Tensor:
    """‖J_θ G(z_b)‖²_F for every draw and sample, ``[n, B]``, without forming J.

    For a dense layer h = W u + b, ∂G_o/∂W = δ_o uᵀ and ∂G_o/∂b = δ_o with δ_o = ∂G_o/∂h, so
    the layer contributes Σ_o ‖δ_o‖² (‖u‖² + 1) (Goodfellow 2015, "Efficient per-example
    gradient computations"). δ for all outputs o at once is the matrix ∂G/∂h [out, width],
    propagated backwards through the layers: memory n·B·out·width, not n·B·out·P.
    """
    dphi = ACTIVATIONS[net.activation].derivative
    dlast = ACTIVATIONS[net.output].derivative
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
