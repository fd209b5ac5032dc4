"""model.memory: glibc's heap limits are accepted and trimming is safe to call."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from model.memory import limit_heap_growth, return_free_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_limit_heap_growth_accepted_by_glibc():
    assert limit_heap_growth() is True
    a = np.ones(10**6)          # 8 MB: mmapped under the fixed threshold, still usable
    assert a.sum() == 10**6
    del a
    return_free_memory()


def _drawing(side: int) -> np.ndarray:
    """A white 7 on a transparent black (side, side) RGBA canvas, as the Draw page's canvas exports it."""
    raw = np.zeros((side, side, 4), np.uint8)
    s = side / 280
    raw[int(50 * s):int(70 * s), int(60 * s):int(220 * s)] = 255
    for y in range(int(70 * s), int(240 * s)):
        x = int((220 - (y / s - 70) * 0.55) * s)
        raw[y, x - int(10 * s):x + int(10 * s)] = 255
    return raw


def test_a_session_keeps_its_drawing_as_a_small_file_and_gets_the_same_pixels_back():
    """The current digit holds its original as PNG bytes (what a session keeps), not as 313,600 bytes
    of pixels; ``raw`` gives back exactly those pixels, and the canvas's own PNG of a high-DPI export
    exactly what the Draw page reads from it (dashboard.drawing.canvas_pixels)."""
    import io
    import pickle

    from PIL import Image

    from dashboard.drawing import canvas_pixels
    from dashboard.state import CurrentDigit

    raw = _drawing(280)
    cur = CurrentDigit.make(np.zeros((28, 28)), "drawing", raw=raw)
    assert np.array_equal(cur.raw, raw) and cur.raw.dtype == np.uint8
    assert len(pickle.dumps(cur)) < raw.nbytes / 10
    big = _drawing(560)                                      # a 2x screen exports 560 px
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, format="PNG")
    from_canvas = CurrentDigit.make(np.zeros((28, 28)), "drawing", raw=buf.getvalue(), raw_side=280)
    assert np.array_equal(from_canvas.raw, canvas_pixels(big, 280)) and from_canvas.raw.shape == (280, 280, 4)
    assert CurrentDigit.make(np.zeros((28, 28)), "test image #0").raw is None


def test_collect_cycles_frees_what_a_page_keeps_in_its_globals_and_freezes_after_imports_only():
    """A page runs in a fresh module whose functions refer back to its globals: dropped by the app, that
    module is a reference cycle that only the cyclic collector frees. collect_cycles frees it (with the
    automatic collector off, so that it is not what did it), and freezes the survivors only when modules
    were imported since its last freeze."""
    import gc
    import types
    import weakref

    from model import memory

    enabled = gc.isenabled()
    gc.disable()
    fake = [f"_test_memory_fake_module_{i}" for i in range(memory.NEW_MODULES)]
    try:
        page = types.ModuleType("__main__")
        exec("import numpy as np\ntable = np.ones(10**5)\ndef on_click():\n    return table.sum()\n", page.__dict__)
        table = weakref.ref(page.__dict__["table"])
        del page
        assert table() is not None                      # kept alive by the cycle, not by us
        memory.collect_cycles()
        assert table() is None
        frozen = gc.get_freeze_count()
        junk = [[i] for i in range(1000)]               # new objects, no new modules: not frozen
        memory.collect_cycles()
        assert gc.get_freeze_count() == frozen
        sys.modules.update({name: types.ModuleType(name) for name in fake})    # as if a page imported them
        memory.collect_cycles()
        assert gc.get_freeze_count() >= frozen + len(junk)
        del junk
    finally:
        for name in fake:
            sys.modules.pop(name, None)
        gc.unfreeze()
        if enabled:
            gc.enable()
