"""Diagrams drawn by code in vae_course.plot: smoke tests of their labelled parts."""


def test_reparameterization_graph_shows_gradients_only_where_they_flow():
    """03's figure: the gradient of f reaches μ, σ and φ only through a reparameterized z."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vae_course.plot import plot_reparameterization_graph

    fig = plot_reparameterization_graph()
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 2

    def edges(ax):
        """(forward, backward) arrows, each as (from label, to label)."""
        forward, backward = [], []
        for t in ax.texts:
            if getattr(t, "arrow_patch", None) is None:
                continue
            pair = (t.anncoords.get_text(), t.xycoords.get_text())
            (backward if t.arrow_patch.get_linestyle() == "--" else forward).append(pair)
        return forward, backward

    left_fwd, left_back = edges(fig.axes[0])
    right_fwd, right_back = edges(fig.axes[1])
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "z ~ N(μ, σ²)" in labels and "gradient stops here" in labels
    assert ("μ", "z ~ N(μ, σ²)") in left_fwd and ("σ", "z ~ N(μ, σ²)") in left_fwd
    assert left_back == [("f(z)", "z ~ N(μ, σ²)")]  # nothing flows past the sampling node
    assert ("ε ~ N(0, 1)", "z = μ + σ·ε") in right_fwd
    for node in ("μ", "σ", "φ"):
        assert any(dst == node for _, dst in right_back), node
    assert not any(dst == "ε ~ N(0, 1)" for _, dst in right_back)  # ε needs no gradient
    plt.close(fig)
