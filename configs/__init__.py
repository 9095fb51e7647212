"""The shipped configs, ``<dataset>/<model>.yaml``: setup.py installs this folder as
``softpool3d.configs``; ``softpool3d.config.shipped_config`` finds a file in it."""
