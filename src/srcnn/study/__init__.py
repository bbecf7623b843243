"""Measuring: the paper protocol on a folder of images (``evaluate``), the papers' study trained
again (``reproduce``), the real-input studies against OpenCV and BM3D (``restoration_study``) and the
``srcnn reproduce`` report that puts our numbers beside the published ones (``report``)."""
