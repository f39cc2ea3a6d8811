"""Reports: ``tables`` (the data vocabulary and writers), ``plots`` and ``pages``.

Drivers import ``rnnbench.report.tables`` only; plots and pages are for writing run folders.
"""
