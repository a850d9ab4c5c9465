"""Training-step throughput and peak memory of the RBF layer (not a timed test).

Compares, in one run and at the same n -> m shape:

- ``dense``: ``keras.layers.Dense(m)``, the reference;
- ``rbf_matmul``: ``KernelDistance(kernel="rbf")``, distances as one matmul;
- ``rbf_replicated``: the same RBF computed as in seed 003's answer, by replicating
  the input and the prototypes to (batch, m, n);
- ``gaussian_per_feature``: ``KernelDistance(kernel="gaussian")``, a per-feature
  kernel that does need one (batch, m, n) tensor (for context).

Each variant runs in its own Python process, so its memory is measured alone: the
peak resident set size (``ru_maxrss``) after the timed steps minus the resident size
just before the first step (model built, data made, TensorFlow loaded). TensorFlow's
own counter, ``tf.config.experimental.get_memory_info("CPU:0")``, reads 0 on CPU, and
``tracemalloc`` does not see TensorFlow's allocations. The delta includes the one-off
cost of tracing the step function, about the same for every variant.

Usage: ``python tests/perf/bench_rbf.py [--batch 256] [--prototypes 1024]
[--features 64] [--steps 20]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

VARIANTS = ("dense", "rbf_matmul", "rbf_replicated", "gaussian_per_feature")


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _replicated_rbf_layer(prototypes, width):
    """Seed 003's formulation: stack x and the prototypes to (batch, m, n)."""
    import keras
    from keras import ops

    class ReplicatedRBF(keras.layers.Layer):
        def build(self, input_shape):
            m, n = prototypes.shape
            self.p = self.add_weight(shape=(m, n), initializer="zeros")
            self.p.assign(prototypes)
            self.rho = self.add_weight(shape=(m,), initializer="zeros")
            self.rho.assign(ops.full((m,), float(ops.log(ops.expm1(width)))))
            self.a = self.add_weight(shape=(m,), initializer="ones")
            self.b = self.add_weight(shape=(m,), initializer="zeros")

        def call(self, x):
            m = prototypes.shape[0]
            x_rep = ops.repeat(ops.expand_dims(x, 1), m, axis=1)  # (batch, m, n)
            p_rep = ops.repeat(ops.expand_dims(self.p, 0), ops.shape(x)[0], axis=0)
            sq = ops.sum(ops.square(x_rep - p_rep), axis=-1)
            return self.a * ops.exp(-sq / ops.softplus(self.rho)) + self.b

    return ReplicatedRBF()


def _build_layer(variant: str, prototypes, width: float):
    import keras

    from search.layers import KernelDistance

    m = prototypes.shape[0]
    if variant == "dense":
        return keras.layers.Dense(m)
    if variant == "rbf_replicated":
        return _replicated_rbf_layer(prototypes, width)
    kernel = "rbf" if variant == "rbf_matmul" else "gaussian"
    return KernelDistance(prototypes, kernel=kernel, width=width,
                          trainable_prototypes=True, trainable_width=True)


def run_worker(variant: str, batch: int, m: int, n: int, steps: int, warmup: int,
               min_seconds: float) -> dict:
    """Times at least ``steps`` training steps (and ``min_seconds``) of one variant."""
    import keras
    import numpy as np

    import search  # noqa: F401  registers the layers when Keras loads

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, n)).astype("float32")
    y = rng.standard_normal((batch, m)).astype("float32")
    prototypes = rng.standard_normal((m, n)).astype("float32")
    inputs = keras.Input((n,))
    model = keras.Model(inputs, _build_layer(variant, prototypes, 2.0 * n)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse", jit_compile=False)
    before = _rss_mib()
    for _ in range(warmup):
        model.train_on_batch(x, y)
    start, done = time.perf_counter(), 0
    while done < steps or time.perf_counter() - start < min_seconds:
        loss = model.train_on_batch(x, y)
        done += 1
    elapsed = time.perf_counter() - start
    assert np.isfinite(loss), f"{variant}: non-finite loss"
    return {
        "variant": variant,
        "steps": done,
        "steps_per_s": done / elapsed,
        "peak_delta_mib": _peak_rss_mib() - before,
        "peak_mib": _peak_rss_mib(),
        "params": model.count_params(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--prototypes", type=int, default=1024, help="m (outputs)")
    parser.add_argument("--features", type=int, default=64, help="n (inputs)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=3.0)
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = (args.batch, args.prototypes, args.features, args.steps, args.warmup,
             args.min_seconds)
    if args.worker:
        print("RESULT " + json.dumps(run_worker(args.worker, *sizes)))
        return

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    rows = []
    for variant in VARIANTS:
        cmd = [sys.executable, __file__, "--worker", variant,
               "--batch", str(args.batch), "--prototypes", str(args.prototypes),
               "--features", str(args.features), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--min-seconds", str(args.min_seconds)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            sys.exit(f"{variant} failed:\n{proc.stderr[-3000:]}")
        rows.append(json.loads(lines[-1][len("RESULT "):]))

    dense = rows[0]
    print(f"batch={args.batch} m={args.prototypes} prototypes n={args.features} "
          f"features; SGD train_on_batch, >= {args.steps} steps and "
          f">= {args.min_seconds:g} s timed after {args.warmup} warm-up; one process "
          "per variant.\npeak MiB = peak RSS (ru_maxrss) minus RSS before the first "
          "step; RSS MiB = the process's peak RSS.")
    header = (f"{'variant':<22}{'params':>9}{'steps/s':>10}{'x dense':>9}"
              f"{'peak MiB':>10}{'x dense':>9}{'RSS MiB':>9}")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['variant']:<22}{row['params']:>9}{row['steps_per_s']:>10.1f}"
              f"{row['steps_per_s'] / dense['steps_per_s']:>9.2f}"
              f"{row['peak_delta_mib']:>10.1f}"
              f"{row['peak_delta_mib'] / max(dense['peak_delta_mib'], 1e-9):>9.1f}"
              f"{row['peak_mib']:>9.0f}")


if __name__ == "__main__":
    main()
