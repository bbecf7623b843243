"""Training: the run's settings as one dataclass (``train_config``), patches made from any HR images
with the chosen degradation (``data``), and the loop itself, resumable and DDP-ready (``train``)."""
