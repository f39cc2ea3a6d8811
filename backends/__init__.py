"""Built-in rnnbench backends, installed as the package ``rnnbench_backends``.

One module per framework, each importing only its own framework, and only when a backend
is constructed. Module names end in ``_backend`` so none can shadow a framework.
"""
