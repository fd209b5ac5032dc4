"""dashboard.map_grid: the figures of one map and of the shared colour bar, and the grid it
shows (through AppTest: one chart per map in a reflowing st.grid, one colour bar below)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.map_grid import colorbar_figure, map_figure, wrap_title


def test_map_figure_stretches_a_patch_map_over_the_digit_and_marks_a_cell():
    digit = np.zeros((28, 28))
    z = np.arange(49, dtype=float).reshape(7, 7)
    fig = map_figure(z, "L1 H1", background=digit, marker=(2, 5), zmin=0, zmax=48)
    bg, heat = fig.data
    assert bg.showscale is False and heat.showscale is False            # no per-map colour bar
    assert (heat.x0, heat.dx, heat.y0, heat.dy) == (1.5, 4.0, 1.5, 4.0)  # patch (r, c) covers pixels 4r..4r+3
    rect = fig.layout.shapes[0]
    assert (rect.x0, rect.x1, rect.y0, rect.y1) == (19.5, 23.5, 7.5, 11.5)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.autorange == "reversed"
    assert "L1 H1" in heat.hovertemplate and "L1 H1" in fig.layout.annotations[0].text


def test_long_titles_are_wrapped_not_clipped():
    assert wrap_title("Integrated Gradients with NoiseTunnel (SmoothGrad)") == \
        "Integrated Gradients<br>with NoiseTunnel<br>(SmoothGrad)"
    tall = map_figure(np.zeros((2, 2)), "Integrated Gradients with NoiseTunnel", title_lines=2)
    short = map_figure(np.zeros((2, 2)), "Saliency", title_lines=1)
    assert tall.layout.margin.t > short.layout.margin.t
    assert "<br>" in tall.layout.annotations[0].text and "<br>" not in short.layout.annotations[0].text


def test_colorbar_figure_is_a_horizontal_bar_with_the_range():
    fig = colorbar_figure("RdBu_r", -2.0, 2.0, "score", zmid=0.0)
    (trace,) = fig.data
    assert trace.colorbar.orientation == "h" and (trace.zmin, trace.zmax) == (-2.0, 2.0)
    words = colorbar_figure("Viridis", 0, 1, ticks=("low", "high"))
    assert list(words.data[0].colorbar.ticktext) == ["low", "high"]


APP = '''
import numpy as np
from dashboard.map_grid import show_map_grid
maps = np.stack([np.full((7, 7), float(i)) for i in range(6)])
maps[0, 0, 0] = -3.0
show_map_grid(maps, [f"map {i}" for i in range(6)], "t_maps", cols=3, background=np.zeros((28, 28)),
              colorscale="RdBu_r", zmid=0.0, shared=SHARED, marker=[None] * 5 + [(1, 1)])
'''


def _charts(at: AppTest) -> dict[str, dict]:
    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


@pytest.mark.parametrize("shared", [True, False])
def test_show_map_grid_one_chart_per_map_and_one_colour_bar(shared):
    at = AppTest.from_string(APP.replace("SHARED", str(shared)), default_timeout=30)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    charts = _charts(at)
    assert set(charts) == {f"t_maps_{i}" for i in range(6)} | {"t_maps_colorbar"}
    heat = [charts[f"t_maps_{i}"]["data"][1] for i in range(6)]
    if shared:   # one range, symmetric around zmid, on every map and on the bar
        assert {(h["zmin"], h["zmax"]) for h in heat} == {(-5.0, 5.0)}
        bar = charts["t_maps_colorbar"]["data"][0]
        assert (bar["zmin"], bar["zmax"]) == (-5.0, 5.0)
    else:        # each map its own range
        assert (heat[0]["zmin"], heat[0]["zmax"]) == (-3.0, 0.0) and (heat[5]["zmin"], heat[5]["zmax"]) == (5.0, 5.0)
    assert "shapes" in charts["t_maps_5"]["layout"] and "shapes" not in charts["t_maps_0"]["layout"]


def test_a_per_map_list_of_the_wrong_length_is_an_error():
    at = AppTest.from_string(APP.replace("SHARED", "True").replace("[None] * 5", "[None] * 2"), default_timeout=30)
    at.run()
    assert at.exception and "one entry per map" in at.exception[0].value
