"""Files in and out: every image kind (``imageio``: 8 / 16 bit, grey, RGB, alpha, metadata), video
frame by frame with its audio (``video``), and writes that never leave a partial file (``atomic``)."""
