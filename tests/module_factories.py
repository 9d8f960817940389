"""User-style model factories for tests/domains/test_module.py: good ones and each kind of bad one.

They are imported by path (``module_factories:linear``), as a user's own package would be;
tests/conftest.py puts this directory on ``sys.path``.
"""

import torch
from torch import nn


def linear(width: int = 4, out_features: int = 2) -> nn.Module:
    """f(x) = W x, no bias: the gradient variance under the default readout has a closed form."""
    return nn.Linear(width, out_features, bias=False)


class _Dropout(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.fc(x))


def dropout(width: int = 4) -> nn.Module:
    """Forward randomness: vmap (randomness="error") refuses it, the loop runs it seeded."""
    return _Dropout(width)


class _Tokens(nn.Module):
    def __init__(self, vocab: int, width: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.blocks = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, vocab))

    def forward(self, ids):
        return self.blocks(self.embed(ids))


def tokens(vocab: int = 5, width: int = 4) -> nn.Module:
    """Integer inputs (no ``input`` group) and a custom loss."""
    return _Tokens(vocab, width)


def token_batch(n: int, generator: torch.Generator):
    """(ids, targets), each [n, 3]."""
    return (torch.randint(0, 5, (n, 3), generator=generator), torch.randint(0, 5, (n, 3), generator=generator))


def cross_entropy(output, batch):
    return nn.functional.cross_entropy(output, batch[1])


def per_token_loss(output, batch):
    """Wrong: one value per token, not one per draw."""
    return nn.functional.cross_entropy(output, batch[1], reduction="none")


def wrong_rows(n: int, generator: torch.Generator):
    return torch.zeros(n + 1, 4)


def raises(depth: int = 2) -> nn.Module:
    raise RuntimeError("out of ideas")


def not_a_module(depth: int = 2):
    return [nn.Linear(2, 2)]


def no_params(depth: int = 2) -> nn.Module:
    return nn.Sequential(*(nn.ReLU() for _ in range(depth)))


def fixed() -> nn.Module:
    """Takes no keywords: sweeping depth must be refused by name."""
    return nn.Linear(4, 4)


NOT_CALLABLE = 3


def custom_init(width: int = 4) -> nn.Module:
    """Init code outside ``reset_parameters`` (a second draw for the last layer): rerunning the
    modules' own initialisers cannot reproduce it, so each draw must be built by the factory."""
    model = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, width))
    nn.init.normal_(model[2].weight, std=0.1)
    return model


class _Scaled(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.scale = nn.Parameter(torch.full((width,), 0.5))  # set once, not by any reset_parameters

    def forward(self, x):
        return self.fc(x) * self.scale


def constant_parameter(width: int = 4) -> nn.Module:
    """A parameter no initialiser writes: rerunning the initialisers leaves it unset, so each draw is built."""
    return _Scaled(width)


class _KeywordCall(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return torch.tanh(self.fc(input=x))  # a forward hook sees no positional input


def keyword_linear(width: int = 4) -> nn.Module:
    """An nn.Linear called with its input as a keyword: probed and measured like any layer, not factored."""
    return _KeywordCall(width)


class _FailingReset(nn.Linear):
    def reset_parameters(self) -> None:
        if not hasattr(self, "_built"):  # the constructor's own call initialises normally
            super().reset_parameters()
            self._built = True
            return
        raise RuntimeError("this initialiser only runs in the constructor")


def failing_reset(width: int = 4) -> nn.Module:
    """reset_parameters that raises when called again: rerunning the initialisers must fall
    back to one factory call per draw, not fail."""
    return nn.Sequential(_FailingReset(width, width), nn.Tanh())
