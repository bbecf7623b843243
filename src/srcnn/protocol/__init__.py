"""The exact protocol every number rests on, in NumPy (no torch): MATLAB's bicubic ``imresize``
(``resize``), BT.601 ``rgb2ycbcr`` and MATLAB's rounding (``color``), PSNR and SSIM on the luma with
the border removed (``metrics``), and the seeded degradations that make LR inputs from HR images
(``degrade``). Models, the engine, training and the studies build on it; it imports none of them."""
