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
