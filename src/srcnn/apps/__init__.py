"""The front ends, thin layers over the Python API (``srcnn.inference``, ``srcnn.training``,
``srcnn.study``): the ``srcnn`` command (``cli``), the HTTP server and its page (``server``), and
batch upscaling on Ray (``batch``). None of them re-implements colour, tiles or bands."""
