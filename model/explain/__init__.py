"""Explanations of one ViT prediction, one module per family.

* :mod:`model.explain.attention`: predictions with heads knocked out, attention maps, rollout;
* :mod:`model.explain.attribution`: Captum attributions behind one verb, :func:`explain`, and
  the registry :data:`METHODS` the pages build their menus from;
* :mod:`model.explain.faithfulness`: deletion/insertion curves of several maps;
* :mod:`model.explain.trust`: sanity checks (model randomisation, random logit) and a scorecard per method.

Each family module that has a command-line form defines ``add_cli(subparsers)``; one entry,
``python -m model.explain SUBCOMMAND FILE --json``, finds them all (:mod:`model.explain.__main__`).
Everything the families export is re-exported here, so ``from model import explain as E;
E.explain(...)`` keeps working.

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

from model.explain._common import (BASELINES, BLUR_SIGMA, FAITHFULNESS_BATCH, IG_INTERNAL_BATCH, IMAGE_SIDE,
                                   OCCLUSION_PER_EVAL, input_gradients, make_baseline, upsample_patches)
from model.explain.attention import (AttentionResult, attention_summary, attention_weights, gradient_rollout,
                                     head_stats, knockout_mask, knockout_proba, predict, query_attention,
                                     rollout, single_head_effects)
from model.explain.attribution import (DEFAULT_COMPARISON, METHODS, NT_BASES, NT_TYPES, Attribution, MethodSpec,
                                       Setting, attribute, explain, method_settings)
from model.explain.faithfulness import Comparison, Faithfulness, compare, faithfulness
from model.explain.inside import DLA, Inside, Patching, activation_patching, cached_forward, direct_logit_attribution, inside_summary, logit_lens, mean_attention_distance, position_similarity, stem_filters  # noqa: E501
from model.explain.trust import (PASS_THRESHOLD, RANK_RULE, RULE, TRUST_METHODS, TRUST_SETTINGS, CascadeStep,
                                 MethodTrust, TrustReport, batch_maps, cascade_steps, emprt, faithfulness_correlation,
                                 map_similarity, max_sensitivity, method_trust, model_fingerprint, mprt,
                                 randomised_cascade, rank_methods, shared_scores, sparseness, spearman_abs,
                                 spearman_signed, ssim, trust_report, trust_settings, trust_summary, verdict)
from model.explain.counterfactual import Counterfactual, counterfactual
