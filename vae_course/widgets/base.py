"""What every latent explorer shares: a VBox with its own CSS class and a visible error area.

A callback that raises inside ipywidgets shows nothing in the notebook (the traceback goes
to a log few learners open). Every explorer callback therefore runs through
:meth:`Explorer.guard`: an exception is shown in red *inside the widget*, with its
traceback folded underneath, kept in ``last_error``, and the widget stays usable.
"""

from __future__ import annotations

import html
import traceback

import ipywidgets as widgets
import numpy as np
import torch

__all__ = ["Explorer", "as_index_source"]


class Explorer(widgets.VBox):
    """Base of the latent explorers: ``display(explorer)`` shows it; ``error`` shows failures.

    Subclasses set ``css_class``, build their controls, then call ``self.finish(children)``.
    """

    css_class = "latent-explorer"

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.last_error: BaseException | None = None
        self.error = widgets.HTML(value="")
        self.error.add_class("latent-error")
        self.add_class("latent-explorer")
        self.add_class(self.css_class)

    def __repr__(self) -> str:
        # the text JupyterLab shows instead of the widget, e.g. in an untrusted notebook
        return (
            f"{type(self).__name__}: run this cell to use the explorer (a saved view appears "
            "only in a trusted notebook: File > Trust Notebook, or `jupyter trust NOTEBOOK`)"
        )

    def finish(self, children) -> None:
        """Set the widget's children (the error area goes last) and draw the first frame."""
        self.children = (*children, self.error)
        self.guard(self.redraw)

    def redraw(self) -> None:  # pragma: no cover - every explorer overrides it
        raise NotImplementedError

    def guard(self, fn, *args, **kwargs) -> bool:
        """Run ``fn``; on an exception show it in the widget and return False (never raise)."""
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - shown to the learner, kept in last_error
            self.show_error(exc, getattr(fn, "__name__", "update"))
            return False
        self.clear_error()
        return True

    def callback(self, fn):
        """Wrap ``fn`` for ``observe`` / ``on_click``: its errors are shown, not lost."""

        def wrapped(*args, **kwargs):
            if getattr(self, "_quiet", False):
                return
            self.guard(fn, *args, **kwargs)

        wrapped.__name__ = getattr(fn, "__name__", "callback")
        return wrapped

    def show_error(self, exc: BaseException, where: str = "update") -> None:
        """Show ``exc`` in red in the widget's error area and remember it in ``last_error``."""
        self.last_error = exc
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.error.value = (
            '<div class="latent-error-msg" style="color:#b00020;border:1px solid #b00020;'
            'padding:4px 8px;margin:4px 0;border-radius:3px;background:#fff4f4">'
            f"<b>{html.escape(type(self).__name__)}: {html.escape(where)} failed</b>: "
            f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}"
            "<details><summary>traceback</summary>"
            f'<pre style="font-size:11px;white-space:pre-wrap">{html.escape(tb)}</pre>'
            "</details></div>"
        )

    def clear_error(self) -> None:
        """Empty the error area after a successful update."""
        self.last_error = None
        if self.error.value:
            self.error.value = ""

    def quietly(self):
        """Context manager: set several controls without each one triggering a redraw."""
        return _Quiet(self)


class _Quiet:
    def __init__(self, explorer):
        self.explorer = explorer

    def __enter__(self):
        self.old = getattr(self.explorer, "_quiet", False)
        self.explorer._quiet = True

    def __exit__(self, *exc):
        self.explorer._quiet = self.old


def as_index_source(x, labels, max_n: int | None = None):
    """Validate data for an explorer: x (N, 1, H, W) tensor, labels (N,) int array or None."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError(f"expected images x as a tensor (N, 1, H, W), got {type(x).__name__}")
    if x.shape[0] == 0:
        raise ValueError("no images given to explore")
    if max_n is not None:
        x = x[:max_n]
    if labels is not None:
        labels = np.asarray(
            labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels
        ).astype(np.int64)[: x.shape[0]]
        if labels.shape[0] != x.shape[0]:
            raise ValueError(f"{x.shape[0]} images but {labels.shape[0]} labels")
    return x, labels
