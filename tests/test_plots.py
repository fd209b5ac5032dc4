"""The shared figures (dashboard/plots.py) say what the pages' captions say they do."""
from __future__ import annotations

import numpy as np
import pytest

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


# ---- model/maps.py: the computation behind the explanation views --------------------------------------------
def test_sign_parts_split_a_signed_map():
    from model.maps import sign_part

    a = np.array([[-2.0, 0.0, 3.0]])
    assert sign_part(a, "positive").tolist() == [[0.0, 0.0, 3.0]]
    assert sign_part(a, "negative").tolist() == [[2.0, 0.0, 0.0]]
    assert sign_part(a, "absolute").tolist() == [[2.0, 0.0, 3.0]]
    assert sign_part(a, "signed").tolist() == a.tolist()
    with pytest.raises(ValueError):
        sign_part(a, "sideways")


def test_percentile_scale_clips_outliers_and_keeps_a_zero_map():
    from model.maps import percentile_scale, shown_maps

    a = np.linspace(-1, 1, 100)
    a[-1] = 50.0                                              # one outlier
    s = percentile_scale(a)
    assert s.max() == 1.0 and s.min() >= -1.0 and np.sum(s == 1.0) >= 1
    assert np.abs(s[:-1]).max() > 0.9                         # the outlier did not squash the rest
    assert np.all(percentile_scale(np.zeros((4, 4))) == 0)
    sparse = np.zeros(100)
    sparse[3] = -4.0                                          # 98th percentile is 0: divide by the max instead
    assert percentile_scale(sparse)[3] == -1.0
    shown, zmax = shown_maps({"a": a, "b": -a}, "positive", normalise=False)
    assert zmax == 50.0 and shown["b"].max() == 1.0


def test_points_map_to_the_patch_under_them():
    from model.maps import inkiest_patch, patch_token, point_to_patch

    assert point_to_patch(0, 0) == (0, 0)
    assert point_to_patch(27, 27) == (6, 6)
    assert point_to_patch(9.4, 4.0) == (1, 2)                 # x = column, y = row, 4 px per patch
    assert point_to_patch(-3, 99) == (6, 0)                   # clamped to the grid
    assert patch_token(0, 0) == 1 and patch_token(6, 6) == 49
    img = np.zeros((28, 28), dtype=np.float32)
    img[20:24, 8:12] = 1.0
    assert inkiest_patch(img) == (5, 2)


def test_architecture_text_reads_the_models_own_config():
    from dashboard.model_plots import architecture_text
    from model.vit import ViTConfig

    text = architecture_text(ViTConfig(patch_size=7, dim=48, depth=3, heads=6))
    assert "4x4 = 16 patches of 7x7 pixels" in text and "vector of 48 numbers" in text
    assert "sees 17 tokens" in text and "each of 3 blocks" in text and "6 attention heads" in text


def test_experiments_table_shows_each_runs_levers_and_notes():
    """The Model page's experiments table names the levers of the distilled run (styles, low-res,
    teacher, averaging), the raw weights' validation accuracy beside the averaged one, and a run's note."""
    from dashboard import model_plots as M

    runs = [{"name": "old", "epochs": 15, "final_val_accuracy": 0.99},
            {"name": "ema", "epochs": 40, "styles": 0.4, "lowres": 0.15, "teacher": "t.safetensors", "ema": 0.999,
             "final_val_accuracy": 0.95, "final_val_accuracy_raw": 0.9954, "note": "averaging bug"},
            {"name": "raw", "epochs": 40, "styles": 0.4, "lowres": 0.15, "teacher": "t.safetensors", "ema": 0.0,
             "final_val_accuracy": 0.9954}]
    df = M.experiments_table(runs).set_index("name")
    assert df.loc["ema", "validation accuracy (raw weights)"] == 0.9954 and df.loc["ema", "note"] == "averaging bug"
    assert df.loc["raw", "teacher"] == "convnet" and df["teacher"].isna()["old"]
    assert df.loc["ema", "weight average"] == 0.999 and df["weight average"].isna()["raw"]   # 0 = off: blank
    assert df.loc["raw", "styles"] == 0.4 and df.loc["raw", "low-res"] == 0.15
