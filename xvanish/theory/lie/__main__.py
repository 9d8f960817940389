"""``python -m xvanish.theory.lie``: time to predict (algebra + prediction) per family at n = 8."""

import time

from . import lie_algebra, pauli_sum, predict, tfim_generators, xy_generators


def _benchmark() -> None:  # pragma: no cover - a command, not a test
    """``python -m xvanish.theory.lie``: time to predict (algebra + prediction) per family at n = 8."""
    import pennylane  # noqa: F401 - imported first so that its import time is not counted

    cases = [
        ("tfim periodic", tfim_generators(8, "periodic"), "Z0 Z1"),
        ("tfim open", tfim_generators(8), "Z0 Z1"),
        ("xy", xy_generators(8), "X0 X1 + Y0 Y1"),
    ]
    for name, gens, obs in cases:
        start = time.perf_counter()
        alg = lie_algebra(gens, 8)
        pred = predict(alg, "zeros" if name != "xy" else "10000000", pauli_sum(obs, 8), {"g": gens[-1]})
        print(
            f"{name:14s} n=8: dim {alg.dim:4d}, ideals {[i.dim for i in alg.ideals]}, centre {alg.centre_dim}; "
            f"Var[C] {pred.var_cost:.6g}, Var[dC] {pred.var_grad['g']:.6g}; {time.perf_counter() - start:.2f} s"
        )


if __name__ == "__main__":  # pragma: no cover
    _benchmark()
