"""Pictures of evaluation results (ROC curves), written as PNG with matplotlib's Agg backend."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def write_roc_png(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str,
                  marks: dict[str, float] | None = None) -> Path:
    """ROC on a log FAR axis (the region a door cares about); `curves` maps label -> (far, tar)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    for label, (far, tar) in curves.items():
        keep = far > 0
        axes.plot(far[keep], tar[keep], linewidth=2, label=label)
    for label, far_value in (marks or {}).items():
        axes.axvline(far_value, color="grey", linestyle=":", linewidth=1)
        axes.text(far_value, 0.35, f" {label}", rotation=90, color="grey", va="bottom")
    axes.set_xscale("log")
    axes.set_xlim(1e-4, 1)
    axes.set_ylim(0, 1.005)
    axes.set_xlabel("false accept rate")
    axes.set_ylabel("true accept rate")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def write_texture_traces_png(path: Path, traces: dict[str, tuple[str, list[tuple[float, float]]]], threshold: float,
                             title: str) -> Path:
    """The texture cue over time, one line per video: live ones blue, attacks orange (solid: replay,
    dashed: print), and the operating point; the legend names the kinds (file by file is in the text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(10, 4.8), dpi=120)
    labelled: set[str] = set()
    for kind, points in traces.values():
        if not points:
            continue
        seconds, values = zip(*points)
        colour = "#1f77b4" if kind == "live" else "#ff7f0e"
        count = sum(k == kind for k, p in traces.values() if p)
        axes.plot(seconds, values, color=colour, linestyle="--" if kind == "print" else "-", linewidth=1.4,
                  alpha=0.75, label=None if kind in labelled else f"{kind} ({count} videos)")
        labelled.add(kind)
    axes.axhline(threshold, color="grey", linestyle=":", linewidth=1)
    axes.text(0.02, threshold, f" operating point {threshold:g}", color="grey", va="bottom")
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("seconds from the first face")
    axes.set_ylabel("median live probability (15 frames)")
    axes.set_title(title)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def write_group_matrix_png(path: Path, matrices: dict[str, tuple[np.ndarray, np.ndarray]], labels: tuple[str, ...],
                           title: str) -> Path:
    """One heat map per panel: false match rate of probes of a group (rows) against templates of
    another (columns), log scale, each cell with its false matches and pairs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, panels = plt.subplots(1, len(matrices), figsize=(7.5 * len(matrices), 6.8), dpi=110, squeeze=False)
    for axes, (name, (fmr, pairs)) in zip(panels[0], matrices.items()):
        shown = np.log10(np.where(fmr > 0, fmr, np.nan))
        top = float(np.ceil(np.nanmax(shown))) if np.isfinite(shown).any() else -2.0
        image = axes.imshow(shown, cmap="magma_r", vmin=top - 2.5, vmax=top)  # the spread that matters: 300x
        for row in range(len(labels)):
            for column in range(len(labels)):
                matches = fmr[row, column] * pairs[row, column]
                axes.text(column, row, f"{matches:.0f}\n{pairs[row, column] / 1e6:.2f}M", ha="center", va="center",
                          fontsize=6, color="white" if shown[row, column] > top - 1.0 else "black")
        axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
        axes.set_yticks(range(len(labels)), labels, fontsize=8)
        axes.set_xlabel("enrolled (template)")
        axes.set_ylabel("stranger (probe)")
        axes.set_title(name, fontsize=10)
        figure.colorbar(image, ax=axes, shrink=0.8, label="log10 false match rate")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
