"""The checking core that every exercise shares.

Tolerances, the comparison of results, the ``Failure`` a student reads,
the one function that calls student code, the mistake catalog and its
diagnosis, devices and gradient checks, and the integrity check. It imports
nothing from the rest of the package.
"""
