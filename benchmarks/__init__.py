"""The asv benchmark suite of rnnbench (see asv.conf.json at the top of the repository).

bench_speed: time and peak memory of ``unroll`` and ``bptt``, per backend, size and dtype.
bench_decay: the gradient-decay curve and its fitted per-step rate, per backend.
bench_agreement: each backend's error against the float64 NumPy reference.

Importing the suite imports rnnbench (NumPy only), never a framework: a framework is
imported in ``setup`` when its backend is built, and a backend that cannot be built there
(not installed, or not yet written at an older commit) skips its cases. Keep it so: asv
(``launch_method: forkserver``) forks every case from a process that imported the suite,
and a framework that has started threads must not be forked.
"""
