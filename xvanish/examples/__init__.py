"""Model factories shipped for the ``module`` domain (docs/module.md).

Each is an ordinary function that returns a freshly initialised ``torch.nn.Module``, the
same kind of factory a user points ``domain.model`` at:

* :func:`xvanish.examples.resnet.residual_mlp` — a residual MLP with optional 1/√L branch
  scaling and batch norm (``experiment=resnet_depth``, the speed benchmark);
* :func:`xvanish.examples.transformer.encoder` (and :func:`~xvanish.examples.transformer.post_ln`,
  :func:`~xvanish.examples.transformer.pre_ln`) — a stack of torch's own
  ``nn.TransformerEncoderLayer`` (``experiment=transformer_ln``).
"""
