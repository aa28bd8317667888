"""Benchmark nn's training loop against a textbook NumPy implementation of the same algorithm,
scikit-learn's MLPRegressor and PyTorch (each when installed).

Every contender runs plain full-batch gradient descent (ReLU hidden layers, linear output,
loss SSE / 2m, lr 0.01) from the very same initial weights, so they all do the same work and
should end at the same loss; the table shows that loss as a check. Timings are the best of
``--repeats`` runs, taken round-robin across contenders so a burst of noise hits all of them.

Run from the repository root: ``make bench`` or ``.venv/bin/python bench/bench.py [--quick]``.
See bench/README.md.
"""
import argparse
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for _path in (HERE, HERE.parent):  # the repository root (for nn) and bench/ (for reference)
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import reference  # noqa: E402  (bench/reference.py)
from nn import Network, TrainConfig, train  # noqa: E402
from nn.data import quadratic  # noqa: E402

LEARNING_RATE = 0.01  # the reference recipe's
PEAK_CALLS = 3  # square products per timing of the matrix-multiply peak


# -- problems -------------------------------------------------------------------------------

@dataclass
class Problem:
    name: str
    X: np.ndarray  # (m, n_in) float64
    Y: np.ndarray  # (m, 1) float64
    hidden: tuple
    steps: int
    weights: list  # initial W per layer, float64, shared by every contender
    biases: list  # initial b per layer, (1, fan_out) float64

    @property
    def sizes(self):
        return (self.X.shape[1], *self.hidden, self.Y.shape[1])


def make_problem(name, X, Y, hidden, steps, init):
    net = Network(X.shape[1], list(hidden), Y.shape[1], init=init, seed=0)
    return Problem(name, X, Y, tuple(hidden), steps,
                   [w.copy() for w in net.W], [b.copy() for b in net.b])


def small_problem(steps):
    """The reference experiment: 1-[10,10]-1, 200 points of y = x^2 - 2 + noise."""
    X, Y = quadratic(200, seed=0)
    return make_problem("small", X, Y, (10, 10), steps, init="seed")


def large_problem(steps, rows, n_in, hidden):
    """Matrix-multiply bound: random inputs, a smooth random target."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((rows, n_in))
    Y = np.sin(X @ rng.standard_normal((n_in, 1)) / np.sqrt(n_in))
    return make_problem("large", X, Y, hidden, steps, init="he")


def final_loss(problem, weights, biases):
    """SSE / 2m of the given parameters on the problem, computed in float64."""
    weights = [np.asarray(w, np.float64) for w in weights]
    biases = [np.asarray(b, np.float64).reshape(1, -1) for b in biases]
    _, As = reference.forward(problem.X, weights, biases)
    error = As[-1] - problem.Y
    return float(np.vdot(error, error)) / (2 * len(error))


# -- contenders -----------------------------------------------------------------------------
# Each ``*_setup(problem, dtype)`` prepares one run outside the timed region and returns a
# zero-argument function that does the ``problem.steps`` training steps and returns the
# trained (weights, biases).

def nn_setup(problem, dtype):
    net = Network(problem.X.shape[1], list(problem.hidden), problem.Y.shape[1], dtype=dtype)
    for w, b, w0, b0 in zip(net.W, net.b, problem.weights, problem.biases):
        w[...], b[...] = w0, b0
    config = TrainConfig.reference(iterations=problem.steps)

    def run():
        train(net, problem.X, problem.Y, config=config)
        return net.W, net.b
    return run


def reference_setup(problem, dtype):
    X, Y = problem.X.astype(dtype), problem.Y.astype(dtype)
    weights = [w.astype(dtype) for w in problem.weights]
    biases = [b.astype(dtype) for b in problem.biases]

    def run():
        W, b, _ = reference.train(X, Y, weights, biases, LEARNING_RATE, problem.steps)
        return W, b
    return run


def sklearn_setup(problem, dtype):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    X, y = problem.X.astype(dtype), problem.Y.ravel().astype(dtype)
    model = MLPRegressor(
        hidden_layer_sizes=problem.hidden, activation="relu", solver="sgd", alpha=0.0,
        batch_size=len(X), learning_rate="constant", learning_rate_init=LEARNING_RATE,
        momentum=0.0, nesterovs_momentum=False, max_iter=1, shuffle=False, tol=0.0,
        n_iter_no_change=10**9, early_stopping=False, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)  # one epoch, only to build the model; its weights are replaced next
    model.coefs_ = [w.astype(dtype) for w in problem.weights]
    model.intercepts_ = [b.ravel().astype(dtype) for b in problem.biases]
    model.max_iter = problem.steps  # epochs = steps with full batches

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)  # warm start: continues from the weights set above
        return model.coefs_, model.intercepts_
    return run


def torch_setup(problem, dtype, threads):
    import torch

    torch.set_num_threads(threads)
    tdt = getattr(torch, dtype)
    X = torch.from_numpy(problem.X.astype(dtype))
    Y = torch.from_numpy(problem.Y.astype(dtype))
    sizes = problem.sizes
    layers = []
    for l, (w, b) in enumerate(zip(problem.weights, problem.biases)):
        linear = torch.nn.Linear(sizes[l], sizes[l + 1], dtype=tdt)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T.copy()))  # torch stores (fan_out, fan_in)
            linear.bias.copy_(torch.from_numpy(b.ravel().copy()))
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])  # linear output layer
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=0.0)
    m = len(X)

    def run():
        for _ in range(problem.steps):
            optimizer.zero_grad(set_to_none=True)
            loss = ((model(X) - Y) ** 2).sum() / (2 * m)
            loss.backward()
            optimizer.step()
        linears = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
        return ([layer.weight.detach().numpy().T for layer in linears],
                [layer.bias.detach().numpy() for layer in linears])
    return run


# -- environment ----------------------------------------------------------------------------

def package_version(name):
    """The version of an importable package, or None."""
    try:
        module = __import__(name)
    except ImportError:
        return None
    return getattr(module, "__version__", "?")


def blas_threads():
    """Threads of the BLAS NumPy uses (threadpoolctl), else the usable CPU count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return usable_cpus()
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    numpy_blas = [i for i in blas if "numpy" in i.get("filepath", "")] or blas
    return numpy_blas[0]["num_threads"] if numpy_blas else usable_cpus()


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_average():
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def environment_lines():
    lines = [f"python {platform.python_version()}, numpy {np.__version__}, "
             f"{platform.machine()}, os.cpu_count() {os.cpu_count()}, usable CPUs {usable_cpus()}"]
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            path = info.get("filepath", "?")
            lines.append(f"  {info.get('user_api')}: {info.get('internal_api')} "
                         f"{info.get('version')} ({info.get('architecture', '-')}), "
                         f"{info.get('num_threads')} threads, {Path(path).name}"
                         + ("  <- NumPy's" if "numpy" in path else ""))
    except ImportError:
        try:
            blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            lines.append(f"  blas: {blas.get('name')} {blas.get('version')} "
                         f"(threadpoolctl not installed: thread count unknown)")
        except Exception:  # older NumPy: no dict mode
            lines.append("  blas: unknown (install threadpoolctl to see it)")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if var in os.environ:
            lines.append(f"  {var}={os.environ[var]}")
    return lines


# -- timing ---------------------------------------------------------------------------------

def best_of(setups, repeats):
    """Time each setup's run ``repeats`` times, round-robin; return {key: (best s, result)}.

    ``setups`` maps a key to a zero-argument function that prepares one run (untimed) and
    returns the run itself (timed); keys whose setup is None are skipped.
    """
    best = {}
    for _ in range(repeats):
        for key, setup in setups.items():
            if setup is None:
                continue
            run = setup()
            start = time.perf_counter()
            result = run()
            seconds = time.perf_counter() - start
            if key not in best or seconds < best[key][0]:
                best[key] = (seconds, result)
    return best


def step_products(problem, dtype):
    """The matrix products of one training step on the problem's shapes, as (a, b, out)
    triples with preallocated outputs: forward A@W per layer, weight gradients A.T@delta per
    layer, input gradients delta@W.T per layer but the first (a trainer never needs dX)."""
    rng = np.random.default_rng(2)
    sizes, m = problem.sizes, len(problem.X)
    A = [rng.standard_normal((m, n)).astype(dtype) for n in sizes[:-1]]  # layer inputs
    W = [rng.standard_normal((a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    D = [rng.standard_normal((m, n)).astype(dtype) for n in sizes[1:]]  # dLoss/dZ per layer
    products = []
    for l in range(len(W)):
        products.append((A[l], W[l], np.empty((m, sizes[l + 1]), dtype)))  # forward
        products.append((A[l].T, D[l], np.empty_like(W[l])))  # dW
        if l > 0:
            products.append((D[l], W[l].T, np.empty((m, sizes[l]), dtype)))  # dA of layer l-1
    return products


def flops_of(products):
    return sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in products)


def products_setup(products, calls):
    """A setup for ``best_of``: ``calls`` rounds of the given products."""
    def run():
        for _ in range(calls):
            for a, b, out in products:
                np.matmul(a, b, out=out)
    return lambda: run


def peak_products(n, dtype):
    """One n x n @ n x n product, the machine's matrix-multiply peak."""
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    return [(a, b, np.empty((n, n), dtype))]


# -- report ---------------------------------------------------------------------------------

def contender_setups(problem, dtypes, threads):
    """{(name, dtype): setup for ``best_of``, or None when the contender is not installed}."""
    have_sklearn, have_torch = package_version("sklearn"), package_version("torch")
    setups = {}
    for name, setup, installed in (("nn", nn_setup, True), ("reference", reference_setup, True),
                                   ("scikit-learn", sklearn_setup, have_sklearn),
                                   ("pytorch", lambda p, d: torch_setup(p, d, threads), have_torch)):
        for dtype in dtypes:
            setups[name, dtype] = (lambda s=setup, d=dtype: s(problem, d)) if installed else None
    return setups


def contender_results(problem, setups, best):
    """{(name, dtype): (steps/s, final loss), or None when not installed}."""
    return {key: (problem.steps / best[key][0], final_loss(problem, *best[key][1]))
            if setup else None for key, setup in setups.items()}


def print_table(problem, results, matmul=None):
    """One row per contender; ``matmul`` maps dtype to the matmul-only seconds per step."""
    print(f"\n{problem.name}: {problem.sizes[0]}-{list(problem.hidden)}-{problem.sizes[-1]}, "
          f"{len(problem.X)} rows, {problem.steps} full-batch steps, best of the repeats")
    header = f"{'contender':<14}{'dtype':<9}{'steps/s':>10}{'vs ref':>8}{'nn vs it':>10}{'final loss':>13}"
    if matmul:
        header += f"{'x matmul':>10}{'outside':>9}"
    print(header)
    print("-" * len(header))
    for (name, dtype), result in results.items():
        if result is None:
            print(f"{name:<14}{dtype:<9}{'not installed':>10}")
            continue
        rate, loss = result
        ref, nn = results.get(("reference", dtype)), results.get(("nn", dtype))
        line = (f"{name:<14}{dtype:<9}{rate:>10.1f}{rate / ref[0]:>7.2f}x"
                f"{nn[0] / rate:>9.2f}x{loss:>13.6g}")
        if matmul:
            step = 1 / rate
            line += f"{step / matmul[dtype]:>9.2f}x{1 - matmul[dtype] / step:>8.0%}"
        print(line)


def verdict(ok, text):
    print(f"  {'n/a ' if ok is None else 'PASS' if ok else 'MISS'}  {text}")


def rate_of(results, name, dtype):
    result = results.get((name, dtype))
    return result[0] if result else None


def ahead(results, other):
    """nn vs another contender on float64, or None when the other is not installed."""
    nn, them = rate_of(results, "nn", "float64"), rate_of(results, other, "float64")
    return (nn > them, f"{nn / them:.2f}x") if them else (None, "not installed")


FULL = dict(small_steps=10000, large_steps=20, large_rows=8192, repeats=3,
            large_hidden=(512, 512), peak_size=2048)
QUICK = dict(small_steps=200, large_steps=3, large_rows=512, repeats=1,
             large_hidden=(64, 64), peak_size=256)


def parse_args(argv=None):
    """Counts come from the flags, else BENCH_* environment variables, else FULL (or QUICK)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small-steps", type=int, help="gradient steps on the small problem [10000]")
    parser.add_argument("--large-steps", type=int, help="gradient steps on the large problem [20]")
    parser.add_argument("--large-rows", type=int, help="rows of the large problem [8192]")
    parser.add_argument("--repeats", type=int, help="best-of-k repeats per timing [3]")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: few steps, small sizes, one repeat")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, default in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, type(default)(os.environ.get(f"BENCH_{name.upper()}", default))
                    if isinstance(default, int) else default)
    args.large_inputs = 64
    return args


def main(argv=None):
    args = parse_args(argv)
    load_before = load_average()
    threads = blas_threads()
    small = small_problem(args.small_steps)
    large = large_problem(args.large_steps, args.large_rows, args.large_inputs, args.large_hidden)
    dtypes = ("float64", "float32")

    small_setups = contender_setups(small, ("float64",), threads)
    small_results = contender_results(small, small_setups, best_of(small_setups, args.repeats))

    # The matmul-only step and the peak run in the same round-robin as the contenders, so
    # that the ratios between them see the same machine.
    large_setups = contender_setups(large, dtypes, threads)
    step, peak = {}, {}
    for dtype in dtypes:
        step[dtype], peak[dtype] = step_products(large, dtype), peak_products(args.peak_size, dtype)
        large_setups["matmuls", dtype] = products_setup(step[dtype], large.steps)
        large_setups["peak", dtype] = products_setup(peak[dtype], PEAK_CALLS)
    best = best_of(large_setups, args.repeats)
    large_results = contender_results(
        large, {k: s for k, s in large_setups.items() if k[0] not in ("matmuls", "peak")}, best)
    matmul = {d: best["matmuls", d][0] / large.steps for d in dtypes}  # seconds per step
    flops = {d: flops_of(step[d]) for d in dtypes}  # per step
    peak_rate = {d: PEAK_CALLS * flops_of(peak[d]) / best["peak", d][0] for d in dtypes}

    print("nn benchmark: plain full-batch gradient descent, lr 0.01, ReLU, SSE/2m")
    print("\n".join(environment_lines()))  # after the runs: lists every BLAS that got loaded
    print(f"PyTorch threads (when installed): {threads}; repeats: {args.repeats}; load average "
          f"(1/5/15 min) before {load_before}, after {load_average()}: other work disturbs timings")
    print_table(small, small_results)
    print_table(large, large_results, matmul)

    print(f"\nlarge, matrix products only ({len(step['float64'])} per step, same shapes, "
          f"preallocated outputs):")
    for dtype in dtypes:
        nn_rate = rate_of(large_results, "nn", dtype)
        print(f"  {dtype}: {matmul[dtype] * 1e3:.1f} ms/step = {flops[dtype] / matmul[dtype] / 1e9:.1f} "
              f"GFLOP/s; peak ({args.peak_size}^3 matmul) {peak_rate[dtype] / 1e9:.1f} GFLOP/s; "
              f"nn achieves {flops[dtype] * nn_rate / 1e9:.1f} GFLOP/s "
              f"= {flops[dtype] * nn_rate / peak_rate[dtype]:.0%} of peak")
    speedup = rate_of(large_results, "nn", "float32") / rate_of(large_results, "nn", "float64")
    ref_speedup = rate_of(large_results, "reference", "float32") / rate_of(large_results, "reference", "float64")
    print(f"  float32 vs float64 speedup: nn {speedup:.2f}x, reference {ref_speedup:.2f}x")

    print("\ntargets (informative):")
    ratio = rate_of(small_results, "nn", "float64") / rate_of(small_results, "reference", "float64")
    verdict(ratio >= 1.5, f"small: nn >= 1.5x reference steps/s ({ratio:.2f}x)")
    for other in ("scikit-learn", "pytorch"):
        ok, text = ahead(small_results, other)
        verdict(ok, f"small: nn ahead of {other} ({text})")
    for dtype in dtypes:
        share = 1 - matmul[dtype] * rate_of(large_results, "nn", dtype)
        verdict(share <= 0.15 if share >= 0 else None,
                f"large: nn {dtype} spends <= 15% of a step outside the matmuls ({share:.1%})"
                + ("; negative: the matmul-only timing was disturbed, rerun" if share < 0 else ""))
    verdict(speedup >= 1.6, f"large: nn float32 >= 1.6x float64 ({speedup:.2f}x)")


if __name__ == "__main__":
    main()
