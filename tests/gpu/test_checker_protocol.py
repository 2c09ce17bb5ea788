"""The trusted checker's protocol with CUDA tensors: the place for its tests.

The checker (``autograder.checker``) runs a student's code in a kernel process and
sends tensors across its wire protocol. Its tests with CUDA tensors belong in
this module: a CUDA tensor sent to and returned from the kernel, a student's
module whose parameters live on the GPU, and a device mix-up reported through the
checker as the in-process checks report it. Use the fixtures of ``conftest.py``
(``solutions``, ``record``) and ``settings.DEVICE``/``settings.DEVICES``, so that
DEVICE=cpu runs them with the CPU standing in, and generate the cases from the
registry (``cases.py``), not from a list of exercises.
"""
