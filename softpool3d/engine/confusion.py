"""Confusion matrix files: CSV (rows = true class, columns = predicted) and a PNG heat map."""
from __future__ import annotations

import csv
from typing import List, Sequence


def write_csv(cm: Sequence[Sequence[int]], classes: List[str], path: str) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true \\ predicted"] + list(classes))
        for name, row in zip(classes, cm):
            w.writerow([name] + [int(v) for v in row])


def write_png(cm: Sequence[Sequence[int]], classes: List[str], path: str, title: str = "") -> None:
    """Row-normalised heat map; class names on the axes up to 60 classes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    m = np.asarray(cm, dtype=float)
    norm = m / np.maximum(1.0, m.sum(axis=1, keepdims=True))
    n = len(classes)
    size = min(20.0, max(4.0, 0.3 * n + 2))
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    if n <= 60:
        ax.set_xticks(range(n), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(n), classes, fontsize=7)
    if n <= 15:
        for i in range(n):
            for j in range(n):
                if m[i, j]:
                    ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix (row-normalised)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(cm, classes, prefix: str, title: str = "") -> List[str]:
    """``prefix.csv`` and ``prefix.png``; returns both paths."""
    write_csv(cm, classes, prefix + ".csv")
    write_png(cm, classes, prefix + ".png", title)
    return [prefix + ".csv", prefix + ".png"]
