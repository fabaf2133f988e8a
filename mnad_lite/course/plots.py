"""Loss curves for the course notebooks: a static plot and a live ``on_step`` callback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mnad_lite.course.cache import read_jsonl

TERMS = ("loss", "rec", "compact", "separate")


def plot_losses(steps: Sequence[dict[str, Any]], ax: Any = None, terms: Sequence[str] = TERMS):
    """Loss terms of Eq. 8 against the step, on a log scale (one line per term)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.clear()
    for term in terms:
        ax.plot([s[term] for s in steps], label=term, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("loss term (log scale)")
    ax.set_title("Eq. 8: L = L_rec + λ_c L_compact + λ_s L_separate", fontsize=10)
    ax.legend(fontsize=8, ncol=len(terms))
    return ax


class LiveLosses:
    """An ``on_step`` callback that redraws the loss curves every ``every`` steps.

    In a notebook the figure is shown once and updated in place (IPython display
    handles); elsewhere it only records the steps.
    """

    def __init__(self, every: int = 20) -> None:
        self.every = every
        self.steps: list[dict[str, Any]] = []
        self._fig: Any = None
        self._handle: Any = None

    def __call__(self, entry: dict[str, Any]) -> None:
        self.steps.append(entry)
        if len(self.steps) % self.every == 0:
            self.draw()

    def draw(self) -> Any:
        """Draw (or redraw) the curves; returns the figure."""
        import matplotlib.pyplot as plt

        if self._fig is None:
            self._fig, _ = plt.subplots(figsize=(6.4, 3.2))
            plt.close(self._fig)  # shown through the display handle, not by the backend
        plot_losses(self.steps, self._fig.axes[0])
        self._fig.tight_layout()
        display = _notebook_display()
        if display is not None:
            if self._handle is None:
                self._handle = display(self._fig, display_id=True)
            else:
                self._handle.update(self._fig)
        return self._fig

    def finish(self, run: str | Path | None = None) -> Any:
        """The final curves; a run that was cached (no live steps) is read from
        ``RUN/steps.jsonl``."""
        if not self.steps and run is not None:
            self.steps = read_jsonl(Path(run) / "steps.jsonl")
        return self.draw()


def _notebook_display() -> Callable[..., Any] | None:
    """IPython's ``display`` inside a running IPython kernel, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the notebook extra
        return None
    return display if get_ipython() is not None else None
