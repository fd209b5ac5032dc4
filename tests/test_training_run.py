"""The shipped recipe's machinery: resume bit for bit, weight snapshots and the timeline family,
writing-style augmentation, the convnet teacher (all on tiny runs; no test trains the real model)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from model.styles import add_styles, cross_seven, flag_one, has_crossbar, has_flag
from model.teacher import ConvTeacher, load_teacher, save_teacher
from model.train import TINY, snapshot_steps, train, update_average
from model.vit import ViT, ViTConfig, load_vit

KW = dict(epochs=3, train_limit=384, val_size=128, batch_size=64, progress=False, lr=5e-3, warmup_epochs=0.2,
          ema=0.9, snapshots=5)


def _equal_files(a, b) -> bool:
    ta, tb = load_file(str(a)), load_file(str(b))
    return sorted(ta) == sorted(tb) and all(torch.equal(ta[k], tb[k]) for k in ta)


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "teacher.safetensors"
    save_teacher(ConvTeacher(4).eval(), path, {"val_accuracy": 0.5})
    return path


def test_resume_continues_bit_for_bit(tmp_path, teacher_file):
    whole = train(ViTConfig(**TINY), out=tmp_path / "a", experiments_log=tmp_path / "a.jsonl",
                  teacher=teacher_file, **KW)
    part = train(ViTConfig(**TINY), out=tmp_path / "b", experiments_log=tmp_path / "b.jsonl",
                 teacher=teacher_file, stop_after=1, **KW)
    assert part["stopped_after"] == 1 and not (tmp_path / "b" / "vit.safetensors").exists()
    resumed = train(ViTConfig(**TINY), out=tmp_path / "b", experiments_log=tmp_path / "b.jsonl",
                    teacher=teacher_file, resume=True, **KW)
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in whole["history"]]
    assert _equal_files(tmp_path / "a" / "vit.safetensors", tmp_path / "b" / "vit.safetensors")
    assert _equal_files(tmp_path / "a" / "vit_snapshots.safetensors", tmp_path / "b" / "vit_snapshots.safetensors")
    # resuming with another recipe is refused rather than silently mixing two schedules
    with pytest.raises(ValueError, match="another recipe"):
        train(ViTConfig(**TINY), out=tmp_path / "b", experiments_log=tmp_path / "c.jsonl",
              teacher=teacher_file, resume=True, **{**KW, "lr": 1e-3})


def test_snapshot_steps_are_log_spaced_and_end_before_the_last_step():
    steps = sorted(snapshot_steps(8000, 10))
    assert len(steps) == 9 and steps[0] == 8 and steps[-1] < 8000
    ratios = np.diff(np.log(steps))
    assert np.allclose(ratios, ratios.mean(), atol=0.02)        # evenly spaced on a log axis
    assert snapshot_steps(8000, 0) == set() and snapshot_steps(8000, 1) == set()


def test_timeline_reads_every_snapshot_and_ends_with_the_shipped_probabilities(tmp_path, test_images):
    from model.explain import timeline
    from model.inference import headline

    train(ViTConfig(**TINY), out=tmp_path, experiments_log=tmp_path / "x.jsonl", **{**KW, "epochs": 2})
    model = load_vit(tmp_path / "vit.safetensors")
    res = timeline.run(model, test_images[0][0], snapshots=str(tmp_path / "vit_snapshots.safetensors"))
    js = res.to_json()
    pts = js["snapshots"]
    assert len(pts) == 5 and [p["step"] for p in pts] == sorted(p["step"] for p in pts)
    assert pts[-1]["step"] == 12 and pts[-1]["epoch"] == pytest.approx(2.0)
    assert np.array_equal(np.float32(pts[-1]["probabilities"]), headline(model, test_images[0][0]).probabilities)
    assert all(set(p) >= {"step", "epoch", "val_accuracy", "probabilities", "predicted"} for p in pts)
    assert all(abs(sum(p["probabilities"]) - 1) < 1e-5 and p["predicted"] == int(np.argmax(p["probabilities"]))
               for p in pts)
    # the snapshots' validation accuracies are those the run measured, not copies of the last
    header = load_vit(tmp_path / "vit.safetensors").meta
    assert "temperature" in header
    assert str(js["first_read_step"]) in res.sentence.replace(",", "")
    # another model's snapshots are refused
    other = load_vit(tmp_path / "vit.safetensors")
    other.weights_sha256 = "0" * 64
    with pytest.raises(timeline.SnapshotError):
        timeline.run(other, test_images[0][0], snapshots=str(tmp_path / "vit_snapshots.safetensors"))
    with pytest.raises(timeline.SnapshotError):
        timeline.run(model, test_images[0][0], snapshots=str(tmp_path / "missing.safetensors"))


def test_style_augmentation_touches_only_ones_and_sevens_and_is_seeded(test_images):
    from data.mnist import load_mnist

    x, y = load_mnist("test")
    pick = np.concatenate([np.where(y == d)[0][:6] for d in (0, 1, 7)])
    xt = torch.from_numpy(x[pick].astype(np.float32) / 255).unsqueeze(1)
    yt = torch.from_numpy(y[pick].astype(np.int64))
    a = add_styles(xt, yt, torch.Generator().manual_seed(3), p=1.0)
    b = add_styles(xt, yt, torch.Generator().manual_seed(3), p=1.0)
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1
    changed = (a != xt).flatten(1).any(1)
    assert not changed[:6].any() and changed[6:].all()          # zeros untouched, every 1 and 7 styled
    assert (a >= xt).all()                                      # strokes are only ever added
    assert torch.equal(add_styles(xt, yt, torch.Generator(), p=0.0), xt)


def test_shape_rules_find_the_added_flags_and_bars():
    from data.mnist import load_mnist

    x, y = load_mnist("test")
    ones = [torch.from_numpy(x[i].astype(np.float32) / 255) for i in np.where(y == 1)[0][:40]]
    sevens = [torch.from_numpy(x[i].astype(np.float32) / 255) for i in np.where(y == 7)[0][:40]]
    g = torch.Generator().manual_seed(0)
    flagged = sum(has_flag(flag_one(o, g, foot_p=0).numpy()) for o in ones)
    plain = sum(has_flag(o.numpy()) for o in ones)
    crossed = sum(has_crossbar(cross_seven(s, g).numpy()) for s in sevens)
    assert flagged >= 30 and plain <= 4 and crossed >= 30


def test_teacher_round_trips_and_predicts_ten_classes(tmp_path):
    torch.manual_seed(0)
    t = ConvTeacher(4).eval()
    save_teacher(t, tmp_path / "t.safetensors", {"val_accuracy": 0.9})
    u = load_teacher(tmp_path / "t.safetensors")
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(t(x), u(x)) and u(x).shape == (3, 10) and u.meta["val_accuracy"] == 0.9


def test_weight_average_also_averages_batchnorm_statistics():
    """The averaged model must normalise with running statistics close to the trained model's,
    not with its initial ones (mean 0, var 1): the bug that kept the 40-epoch average near 95 %."""
    torch.manual_seed(0)
    model = ViT(ViTConfig(**TINY))
    avg = ViT(ViTConfig(**TINY))
    avg.load_state_dict(model.state_dict())
    model.train()
    for _ in range(30):   # BatchNorm updates its running mean/var on forward passes in train mode
        model(torch.rand(8, 1, 28, 28) * 3 + 1)
    for step in range(200):
        update_average(avg, model, 0.9, step)
    bn = [(n, b) for n, b in avg.named_buffers() if n.endswith("running_mean")]
    assert bn, "the conv stem should carry BatchNorm statistics"
    model_buffers = dict(model.named_buffers())
    for name, b in bn:
        assert not torch.allclose(b, torch.zeros_like(b))
        assert torch.allclose(b, model_buffers[name], atol=1e-4), name
    assert int(dict(avg.named_buffers())[bn[0][0].replace("running_mean", "num_batches_tracked")]) == 30


def test_shipped_style_counts_name_real_flagged_ones_and_crossed_sevens():
    """model/artifacts/mnist_styles.json (the Data page's writing-style counts) agrees with the shape rules."""
    import json

    from data.mnist import load_mnist
    from model import paths

    styles = json.loads(paths.MNIST_STYLES.read_text())
    x, y = load_mnist("train")
    assert styles["ones"] == int((y == 1).sum()) and styles["sevens"] == int((y == 7).sum())
    assert 0 < styles["flagged_ones"] < styles["ones"] and 0 < styles["crossed_sevens"] < styles["sevens"]
    for i in styles["flagged_examples"]:
        assert y[i] == 1 and has_flag(x[i].astype(np.float32) / 255.0), i
    for i in styles["crossed_examples"]:
        assert y[i] == 7 and has_crossbar(x[i].astype(np.float32) / 255.0), i
