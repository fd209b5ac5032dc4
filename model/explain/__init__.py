"""Explanations of one ViT prediction, one module per family.

* :mod:`model.explain.attention`: predictions with heads knocked out, attention maps, rollout;
* :mod:`model.explain.attribution`: Captum attributions behind one verb, :func:`explain`, and
  the registry :data:`METHODS` the pages build their menus from;
* :mod:`model.explain.faithfulness`: deletion/insertion curves of several maps;
* :mod:`model.explain.trust`: sanity checks (model randomisation, random logit) and a scorecard per method;
* :mod:`model.explain.inside`: logit lens, direct logit attribution, activation patching;
* :mod:`model.explain.counterfactual`, :mod:`model.explain.neighbours`, :mod:`model.explain.replay`:
  "make it a D", the nearest training images, the reading after each stroke.

Every family module follows one contract (:mod:`model.explain._registry`): a verb
``run(model, image, **options) -> Result`` and ``FAMILY``; the command line
``python -m model.explain SUBCOMMAND FILE --json`` is generated from them
(:mod:`model.explain.__main__`). Everything a family module lists in its ``__all__`` (a module
without one: every public name it defines itself) is re-exported here, found by walking the
package, so ``from model import explain as E; E.explain(...)`` keeps working and a new family
is exported without touching this file.

Everything here is a pure function of ``(model, image, target, settings)`` returning numpy
arrays, so pages only render. The one registry :data:`METHODS` lists every attribution
method with its source, a "how to read this" caption and its settings (defaults and ranges);
the Attributions page builds its menu from it and calls :func:`explain` / :func:`attribute`.

Methods and sources
-------------------
* Integrated Gradients (Sundararajan et al., 2017, "Axiomatic Attribution for Deep Networks"),
  ``captum.attr.IntegratedGradients``.
* Saliency (Simonyan et al., 2014, "Deep Inside Convolutional Networks"), ``captum.attr.Saliency``.
* Input x Gradient (Shrikumar et al., 2016), ``captum.attr.InputXGradient``.
* GradientShap (Lundberg & Lee, 2017, "A Unified Approach to Interpreting Model Predictions"),
  the algorithm of ``captum.attr.GradientShap``.
* Occlusion (Zeiler & Fergus, 2014), ``captum.attr.Occlusion``.
* NoiseTunnel / SmoothGrad (Smilkov et al., 2017; VarGrad: Adebayo et al., 2018), the algorithm
  of ``captum.attr.NoiseTunnel`` around any gradient method above.
* Attention of the class token per layer and head, attention rollout (Abnar & Zuidema, 2020,
  "Quantifying Attention Flow in Transformers") and gradient-weighted rollout (Chefer, Gur &
  Wolf, 2021, "Generic Attention-model Explainability for Interpreting Bi-Modal and
  Encoder-Decoder Transformers", their Eq. 5-6), which is class-specific.
* Head knockout (Michel et al., 2019) through the model's ``head_mask`` argument.
* Deletion / insertion curves (Petsiuk et al., 2018, "RISE", Sec. 4.1).

All gradient methods explain the target class's *logit* (score before softmax), where
completeness holds (IG's attributions sum to ``logit(x) - logit(baseline)``); the faithfulness
curves track the target's *probability*, as in RISE.

Thread safety
-------------
One model instance is shared by every app session (``st.cache_resource``), so nothing here
mutates it: no hooks (Captum's layer methods register hooks, so they are not used; attention
comes back as a return value of ``model(x, return_attn=True)``), no ``train()``/``eval()``
calls, no ``requires_grad`` changes on parameters. Gradients are taken with respect to a fresh
per-call input tensor only, through ``torch.autograd.grad`` (Captum's ``compute_gradients``
uses it too), which never writes ``param.grad``. Random methods (GradientShap, NoiseTunnel,
the noise baseline, the random ranking) draw from a per-call ``torch.Generator`` seeded by a
``seed`` setting: Captum's own ``GradientShap`` and ``NoiseTunnel`` draw from the global RNGs
(``np.random`` / ``torch.normal``) that all threads share, so their results would depend on
what other sessions do at the same moment; we reimplement those two (a few lines each) with
the same formulas. ``tests/test_explain_threads.py`` checks that 8 threads give the serial
results and leave the model untouched.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

_NOT_EXPORTED = {"run", "FAMILY", "FAMILIES", "add_cli", "main"}   # each module's own, not the package's
_CONFLICTS: list[str] = []    # names two modules export as different objects (a test keeps this empty)


def _exports(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:        # no __all__: the public names the module defines itself
        names = [n for n, v in vars(module).items()
                 if not n.startswith("_") and not inspect.ismodule(v)
                 and getattr(v, "__module__", module.__name__) == module.__name__]
    return [n for n in names if n not in _NOT_EXPORTED]


def _export_all() -> list[str]:
    exported: dict[str, object] = {}
    mods = ["_common", "_registry"] + sorted(m.name for m in pkgutil.iter_modules(__path__)
                                             if not m.name.startswith("_"))
    for name in mods:
        module = importlib.import_module(f"{__name__}.{name}")
        for n in _exports(module):
            v = getattr(module, n)
            if n in exported and exported[n] is not v:
                _CONFLICTS.append(f"{name}.{n}")
                continue
            exported[n] = v
    globals().update(exported)
    return sorted(exported)


__all__ = _export_all()
