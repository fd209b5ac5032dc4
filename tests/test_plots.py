"""The shared figures (dashboard/plots.py) say what the pages' captions say they do."""
from __future__ import annotations

import numpy as np

from dashboard.plots import image_figure, probability_chart


def test_probability_chart_marks_the_top_digit_and_scales():
    probs = np.array([0.01, 0.02, 0.9, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01])
    fig = probability_chart(probs, title="t", height=230)
    bar = fig.data[0]
    assert list(bar.x) == [str(d) for d in range(10)]
    assert [c for c in bar.marker.color].index("#d62728") == 2 and list(bar.marker.color).count("#d62728") == 1
    assert fig.layout.height == 230 and fig.layout.title.text == "t"
    assert tuple(fig.layout.yaxis.range) == (0, 1.15) and fig.layout.yaxis.type in (None, "linear", "-")
    log = probability_chart(probs, log=True, highlight=5)
    assert log.layout.yaxis.type == "log" and list(log.data[0].marker.color).index("#d62728") == 5
    assert log.layout.yaxis.range[0] == np.log10(0.01) - 0.5


def test_image_figure_is_a_square_heatmap_row_zero_on_top():
    img = np.arange(28 * 28, dtype=np.float32).reshape(28, 28) / (28 * 28)
    fig = image_figure(img, colorscale="Viridis", zmin=None, zmax=None, hover="w")
    hm = fig.data[0]
    assert np.array_equal(np.asarray(hm.z), img.astype(float))
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.yaxis.scaleanchor == "x"
    assert fig.layout.xaxis.showticklabels is False and hm.showscale is False
    assert "w %{z:.3f}" in hm.hovertemplate and hm.zmin is None
