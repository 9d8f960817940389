"""Any torch model (``domain=module``): which layers starve at initialisation, and what reaches each block.

A user points ``model`` at a factory ``package.module:function`` that returns a freshly
initialised ``torch.nn.Module``. For one scale point the sampler draws ``n`` independent
draws; each draw is

* a fresh initialisation: the factory called under the CPU default generator seeded with
  the draw's own seed (so the factory's own init — ``reset_parameters``, custom init code
  in ``__init__`` — runs as written; the global random state is saved before and restored
  after, nothing leaks), or, with ``vary=data``, one initialisation from ``init_seed``
  shared by all draws;
* fresh inputs: standard-normal of the shape ``inputs`` (one draw's input, the model's own
  batch dimension included), or a callable ``inputs(n, generator) -> batch`` for data of
  your own (token ids, ``(x, y)`` pairs);
* a per-draw loss: by default a random linear readout L = Σ a ⊙ f(x) of the model's output
  with a ~ N(0, 1/d) (d the output's last dimension; the MLP domain's readout), or a
  callable ``loss(output, batch) -> one value``.

Gradient groups of one draw:

* ``act/<name>``: ∂L/∂y at the output y of chosen modules — by default each top-level block
  (the children of the model's largest ``nn.ModuleList``/``nn.Sequential``), or modules
  whose type name or path is listed in ``acts`` — position = order in the forward pass.
  A module called several times gets the sum of the gradients at its outputs. The
  per-block rate is fitted along this profile like the MLP's per-layer rate;
* ``param/<name>``: ∂L/∂θ for each parameter tensor (``named_parameters`` names), declared
  in order of first use in the forward pass. Inside the blocks each parameter role is one
  family across the blocks (``param/layers.*.linear2.weight``, position = block number),
  so each weight's profile along depth is fitted too; outside them (embedding, final
  norm) a parameter is a group of its own. ``count_from=output`` numbers the blocks from
  the last one (``layers.-1``), so the last blocks keep their names across a depth sweep.
  A parameter the forward never touches gets an exactly zero gradient;
* ``input``: ∂L/∂x when the model's input is floating point (the signal that crossed the
  whole model; the domain's headline group);
* the cost: the n losses.

Two ways to compute the n draws, which give the same numbers (tests: 1e-10 in float64):

* ``vmap``: the n initialisations are stacked along a leading dimension and one
  ``torch.func.vmap`` of ``torch.func.grad`` over ``torch.func.functional_call`` computes
  every draw in one batched forward and backward. Gradients at module outputs come from
  zero "taps" added to those outputs by forward hooks, differentiated like parameters.
  The factory runs once; the other draws rerun that instance's own ``reset_parameters``
  under their seeds, straight into the stack, when that reproduces the factory on the
  first draw (bit for bit, and the generator's state after it); else the factory runs per draw.
  An ``nn.Linear`` fed one row per draw has a weight gradient (∂L/∂output) ⊗ input: it is
  returned as those two factors (:class:`~xvanish.core.OuterProduct`), whose statistics
  come without building the ``[n, out·in]`` gradients.
* ``loop``: one model and one ``loss.backward()`` per draw, the plain way.

``batching=auto`` (default) tries ``vmap`` on the first ``sample`` call and falls back to
the loop when the model cannot run under it (data-dependent Python control flow,
``.item()``, in-place updates of unbatched state, dropout: vmap runs with
``randomness="error"`` so both paths always agree); ``info()`` (and summary.json's
``points[i].info``) says which path ran and why. ``batching=vmap`` makes that failure an
error; ``batching=loop`` skips vmap.

There is no closed-form variance for an arbitrary model: ``theory_var()`` is empty.

Configuration is checked before any work: importing the paths, the factory's signature
against the keywords it will receive, then one instance built (under a fixed seed, global
random state restored) and one draw run forward through the loss, which catches a factory that
raises or returns no Module, a model without trainable parameters, inputs the model
rejects and a loss that does not give one value per draw — each as one
:class:`~xvanish.core.ConfigError` line naming the key.

Example:
    >>> from xvanish import measure
    >>> from xvanish.domains import module
    >>> s = module.sampler(model="xvanish.examples.resnet:residual_mlp", depth=8, width=32, inputs=[4, 32])
    >>> rows = measure(s, n_samples=64, seed=0)  # doctest: +SKIP
"""

from xvanish.core import Domain

from .build import DTYPES
from .config import BATCHING, VARY, ModuleConfig
from .sampling import ModuleSampler, sampler

__all__ = ["BATCHING", "DOMAIN", "DTYPES", "VARY", "ModuleConfig", "ModuleSampler", "sampler"]


DOMAIN = Domain(
    name="module",
    config=ModuleConfig,
    factory=sampler,
    natural_axis="depth",
    headline_group="input",
    description="any torch nn.Module from a factory: each parameter's gradient and what reaches each block",
    small={"depth": 2, "width": 4, "inputs": [3, 4]},
    oversized={"width": 1 << 17},
)
