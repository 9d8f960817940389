"""Micro-benchmark of the batched state-vector engine (xvanish.domains.vqc._statevector) alone.

    python experiments/bench_statevector.py [--n 10 --layers 50 --samples 200 --loop-samples 20]

Point: McClean et al. (2018)'s circuit — RY(π/4) on every wire, then per layer on every
wire a rotation whose axis (X/Y/Z) is drawn per sample and per position with angle
U[0, 2π), then a CZ ladder — observable Z0 Z1; wanted: the values C and ∂C/∂θ of the
first rotation on wire 0, for every sample. The per-sample axis is written with
PennyLane ops and broadcasting as RX(θ·mx) RY(θ·my) RZ(θ·mz), m a one-hot mask.

Timed in the same run (best of ``--repeat``; every time includes building the PennyLane
operations, as a caller would):
  ours   expval only; values + grad by the adjoint sweep (expval_and_grad, one angle);
         values + grad by parameter shift (one expval call on a 3B batch: θ, θ ± π/2);
         values + the gradient of all n·L angles (adjoint)
  plain  (1) PennyLane-demo-style loop, one QNode call per sample on default.qubit with
             diff_method="parameter-shift" (on --loop-samples samples, scaled to B);
         (2) one broadcast default.qubit QNode call over all B samples (values; the
             gradient by parameter shift is two more such calls, so its time is ×3);
         (3) lightning.qubit adjoint, one QNode call per sample (--loop-samples, scaled).
Also: agreement of all methods on the common samples, torch thread settings (1 vs 2),
complex128 bmm against a real/imaginary float64 split for the layer kernel, Kronecker
chunk width, this machine's memory bandwidth (numpy copy of a 256 MiB array) and the
memory-traffic lower bound 3·G·(2·16 B·2^n)·B / bandwidth (THEORY.md §5, "Speed facts").
"""

import argparse
import math
import time

import numpy as np
import pennylane as qml
import torch

from xvanish.domains.vqc import _statevector as sv


def best_time(function, repeats, warm_up=True):
    """Smallest wall time of ``repeats`` calls (after one warm-up) and the last result.

    The minimum, not the median: other jobs share this machine, and with 2 cores a
    descheduled OpenMP thread stalls a whole kernel, so slow runs measure the neighbours.
    The slow plain ways run once, without warm-up (``repeats=1, warm_up=False``).
    """
    out = function() if warm_up else None
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = function()
        best = min(best, time.perf_counter() - start)
    return best, out


class McClean:
    """The random circuits of one benchmark point (draws fixed by ``seed``)."""

    def __init__(self, n, layers, samples, seed):
        g = torch.Generator().manual_seed(seed)
        self.n, self.layers, self.samples = n, layers, samples
        self.theta = torch.rand(layers, n, samples, generator=g, dtype=torch.float64) * 2 * math.pi
        self.axis = torch.randint(0, 3, (layers, n, samples), generator=g)
        self.mask = torch.nn.functional.one_hot(self.axis, 3).to(torch.float64)
        self.obs = qml.Z(0) @ qml.Z(1)

    def ops(self, theta, mask, first=None):
        """Broadcast PennyLane ops; ``first`` replaces θ of layer 0, wire 0 (a grad leaf).

        Angles are split with ``unbind`` (one backward node) rather than indexing (one
        full-size zero tensor per angle in the backward pass)."""
        ops = [qml.RY(math.pi / 4, wires=w) for w in range(self.n)]
        for l, (row, mrow) in enumerate(zip(theta.unbind(0), mask.unbind(0))):
            for w, (t, m) in enumerate(zip(row.unbind(0), mrow.unbind(0))):
                t = first if (first is not None and l == 0 and w == 0) else t
                mx, my, mz = m.unbind(-1)
                ops += [qml.RX(t * mx, wires=w), qml.RY(t * my, wires=w), qml.RZ(t * mz, wires=w)]
            ops += [qml.CZ(wires=[w, w + 1]) for w in range(self.n - 1)]
        return ops

    def n_gates(self):
        """PennyLane gates of one circuit: n RY, n·L rotations, (n−1)·L CZ."""
        return self.n + self.n * self.layers + (self.n - 1) * self.layers

    # ---- ours ----
    def ours_expval(self):
        return sv.expval(self.ops(self.theta, self.mask), self.n, self.obs)

    def ours_adjoint(self):
        first = self.theta[0, 0].clone().requires_grad_()
        values, (grad,) = sv.expval_and_grad(self.ops(self.theta, self.mask, first), self.n, self.obs, [first])
        return values, grad

    def ours_shift(self):
        b = self.samples
        theta = self.theta.repeat(1, 1, 3)
        theta[0, 0, b : 2 * b] += math.pi / 2
        theta[0, 0, 2 * b :] -= math.pi / 2
        out = sv.expval(self.ops(theta, self.mask.repeat(1, 1, 3, 1)), self.n, self.obs)
        return out[:b], (out[b : 2 * b] - out[2 * b :]) / 2

    def ours_all(self):
        theta = self.theta.clone().requires_grad_()
        values, (grad,) = sv.expval_and_grad(self.ops(theta, self.mask), self.n, self.obs, [theta])
        return values, grad[0, 0]

    # ---- plain ways ----
    def _per_sample_circuit(self, s, first):
        gates = (qml.RX, qml.RY, qml.RZ)
        for w in range(self.n):
            qml.RY(math.pi / 4, wires=w)
        for l in range(self.layers):
            for w in range(self.n):
                angle = first if (l == 0 and w == 0) else float(self.theta[l, w, s])
                gates[int(self.axis[l, w, s])](angle, wires=w)
            for w in range(self.n - 1):
                qml.CZ(wires=[w, w + 1])
        return qml.expval(self.obs)

    def loop(self, device_name, diff_method, count):
        """The demo way: one QNode call per sample, the sample's own gate per position.

        Autograd (PennyLane numpy) interface as in the demos; ``qml.grad`` keeps the value
        of its forward pass. (lightning.qubit through the torch interface was measured to
        deviate from default.qubit by ~1e-9, as if a parameter passed through float32.)
        """
        dev = qml.device(device_name, wires=self.n)

        @qml.qnode(dev, interface="autograd", diff_method=diff_method)
        def circuit(first, s):
            return self._per_sample_circuit(s, first)

        values, grads = [], []
        for s in range(count):
            first = qml.numpy.array(float(self.theta[0, 0, s]), requires_grad=True)
            grad_fn = qml.grad(circuit, argnums=0)
            grads.append(float(grad_fn(first, s)))
            values.append(float(grad_fn.forward))
        return (torch.tensor(values, dtype=torch.float64), torch.tensor(grads, dtype=torch.float64))

    def broadcast_default_qubit(self):
        """One broadcast default.qubit QNode call over all B samples (values only)."""
        dev = qml.device("default.qubit", wires=self.n)

        @qml.qnode(dev, interface="torch", diff_method=None)
        def circuit():
            self.ops(self.theta, self.mask)  # constructing inside the QNode queues them
            return qml.expval(self.obs)

        return circuit()


def memory_bandwidth(repeats):
    """Bytes per second of a numpy copy of a 256 MiB array (read + write counted)."""
    src = np.ones(2**25)
    dst = np.empty_like(src)
    seconds, _ = best_time(lambda: np.copyto(dst, src), repeats)
    return 2 * src.nbytes / seconds


def layer_kernels(n, samples, repeats):
    """One one-qubit layer at n wires (two Kronecker chunks): complex128 bmm vs a
    real/imaginary float64 split (4 real bmm's per chunk) vs a real 2×2-block embedding."""
    a = n // 2
    g = torch.Generator().manual_seed(0)
    x = torch.randn(samples, 1 << a, 1 << (n - a), dtype=torch.complex128, generator=g)
    k1 = torch.randn(samples, 1 << a, 1 << a, dtype=torch.complex128, generator=g)
    k2 = torch.randn(samples, 1 << (n - a), 1 << (n - a), dtype=torch.complex128, generator=g)

    def complex_bmm():
        return torch.bmm(torch.bmm(k1, x), k2.transpose(1, 2))

    xr, xi, k1r, k1i, k2r, k2i = (t.contiguous() for t in (x.real, x.imag, k1.real, k1.imag, k2.real, k2.imag))

    def split_bmm():
        yr = torch.bmm(k1r, xr) - torch.bmm(k1i, xi)
        yi = torch.bmm(k1r, xi) + torch.bmm(k1i, xr)
        zr = torch.bmm(yr, k2r.transpose(1, 2)) - torch.bmm(yi, k2i.transpose(1, 2))
        zi = torch.bmm(yr, k2i.transpose(1, 2)) + torch.bmm(yi, k2r.transpose(1, 2))
        return zr, zi

    block = torch.cat([torch.cat([k1r, -k1i], 2), torch.cat([k1i, k1r], 2)], 1)
    stacked = torch.cat([xr, xi], 1)

    def block_bmm():  # left chunk only, as [[Re, -Im], [Im, Re]] real matrices
        return torch.bmm(block, stacked)

    return {
        "complex128 bmm (both chunks)": best_time(complex_bmm, repeats)[0],
        "float64 re/im split (both chunks)": best_time(split_bmm, repeats)[0],
        "float64 2x2-block (left chunk only)": best_time(block_bmm, repeats)[0],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--layers", type=int, default=50)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument(
        "--loop-samples", type=int, default=20, help="samples for the per-sample loops (times scaled to --samples)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    point = McClean(args.n, args.layers, args.samples, args.seed)
    b, k, r = args.samples, args.loop_samples, args.repeat
    scale = b / k
    print(
        f"McClean circuit n={args.n}, {args.layers} layers, B={b} samples, complex128, "
        f"torch threads={torch.get_num_threads()}; times are the best of {r} "
        "(other jobs may share this machine)"
    )

    rows = []
    t_exp, v_exp = best_time(point.ours_expval, r)
    rows.append(("ours: values only (expval)", t_exp))
    t_adj, (v_adj, g_adj) = best_time(point.ours_adjoint, r)
    rows.append(("ours: values + grad, adjoint (expval_and_grad)", t_adj))
    t_ps, (v_ps, g_ps) = best_time(point.ours_shift, r)
    rows.append(("ours: values + grad, shift (expval on 3B)", t_ps))
    t_all, (v_all, g_all) = best_time(point.ours_all, 1)
    rows.append((f"ours: values + all {args.n * args.layers} grads, adjoint", t_all))

    t_loop, (v_loop, g_loop) = best_time(lambda: point.loop("default.qubit", "parameter-shift", k), 1, warm_up=False)
    rows.append((f"(1) default.qubit param-shift loop ({k} samples ×{scale:g})", t_loop * scale))
    t_bc, v_bc = best_time(point.broadcast_default_qubit, 1, warm_up=False)
    rows.append(("(2) default.qubit one broadcast call (values; ×3 for θ, θ±π/2)", 3 * t_bc))
    t_lt, (v_lt, g_lt) = best_time(lambda: point.loop("lightning.qubit", "adjoint", k), 1, warm_up=False)
    rows.append((f"(3) lightning.qubit adjoint loop ({k} samples ×{scale:g})", t_lt * scale))

    print(f"\n{'method':58s} {'seconds':>9s} {'vs adjoint':>10s}")
    for name, seconds in rows:
        print(f"{name:58s} {seconds:9.3f} {seconds / t_adj:9.1f}×")
    print(
        f"speed-up of ours (adjoint) vs (1) {t_loop * scale / t_adj:.0f}×, "
        f"vs (2) {3 * t_bc / t_adj:.1f}×, vs (3) {t_lt * scale / t_adj:.1f}×"
    )

    def gap(a, ref):
        return float((a[: len(ref)] - ref).abs().max())

    print(
        "\nagreement (max |difference| on common samples): "
        f"values adjoint-vs-loop {gap(v_adj, v_loop):.1e}, shift {gap(v_ps, v_loop):.1e}, "
        f"broadcast {gap(v_bc, v_loop):.1e}, lightning {gap(v_lt, v_loop):.1e}, "
        f"expval {gap(v_exp, v_loop):.1e}; grads adjoint {gap(g_adj, g_loop):.1e}, "
        f"shift {gap(g_ps, g_loop):.1e}, all-param {gap(g_all, g_loop):.1e}, "
        f"lightning {gap(g_lt, g_loop):.1e}"
    )

    bandwidth = memory_bandwidth(r)
    traffic = 2 * 16 * 2**args.n * b
    bound_gates = 3 * point.n_gates() * traffic / bandwidth
    prims = args.layers * (len(range(0, args.n, sv.chunk_wires_for(args.n))) + 1)
    bound_fused = 3 * prims * traffic / bandwidth
    print(
        f"\nmemory bandwidth (numpy copy, 256 MiB): {bandwidth / 1e9:.1f} GB/s; traffic bound "
        f"3·G·(2·16 B·2^n)·B/bw: G={point.n_gates()} PennyLane gates → {bound_gates:.3f} s, "
        f"G={prims} fused kernels (ours) → {bound_fused:.3f} s; "
        f"state batch {sv.state_bytes(args.n, b) / 2**20:.1f} MiB (when it fits in cache, "
        "DRAM bandwidth is not the limit: the complex matmul flops are)"
    )

    print("\nthreads (ours, values + grad by adjoint):", end="")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        print(f"  {threads} thread(s) {best_time(point.ours_adjoint, r)[0]:.3f} s", end="")
    torch.set_num_threads(args.threads)
    print()

    print(
        "layer kernel at this point (seconds per layer):",
        ", ".join(f"{name} {s * 1e3:.2f} ms" for name, s in layer_kernels(args.n, b, max(r, 5)).items()),
    )

    print("Kronecker chunk width (ours, expval):", end="")
    ops = point.ops(point.theta, point.mask)
    for width in (3, 4, 5, 6):
        seconds, _ = best_time(lambda: sv.expval(ops, args.n, point.obs, max_chunk_wires=width), r)
        print(f"  {width}: {seconds:.3f} s", end="")
    print()


if __name__ == "__main__":
    main()
