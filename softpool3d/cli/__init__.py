"""Command-line tools: each module has ``main(argv=None) -> int``; ``tools/<name>.py`` and the
``softpool3d-<name>`` console commands call it."""
