"""The Draw page's result panels (the page lays them out): the headline prediction with its
calibrated confidence, the TTA comparison, the probability chart and the 28x28 input; and an
upload's or photo's result. Streamlit calls, no computation: predictions come from
:mod:`dashboard.drawing` (the app's headline, :func:`model.inference.headline`)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import resources
from dashboard.drawing import Prediction, predict_digit, upload_to_digit
from dashboard.palette import PLOT_CONFIG
from dashboard.plots import image_figure, probability_chart
from dashboard.state import set_current
from model.inference import TTA_VIEWS, torn

UPLOAD_MEMO_KEY = "draw_upload_memo"  # (file_id, UploadResult): decode each upload once


def confidence_help() -> str:
    """What the confidence means, with the calibration figures measured by model.evaluate."""
    vit = resources.load_json("evaluation.json").get("vit", {})
    text = ("Calibrated probability (temperature scaling, Guo et al., 2017): of all digits the model reads with "
            "about this confidence, about this share are read right.")
    if isinstance(vit.get("ece"), float) and isinstance(vit.get("temperature"), float):
        text += (f" Logits are divided by T = {vit['temperature']:.2f}, fitted on held-out training digits; on the "
                 f"10,000 MNIST test digits the average gap between confidence and accuracy (ECE) is "
                 f"{vit['ece']:.2%}. It is measured on MNIST: on drawings unlike MNIST it can still be over-confident.")
    return text


def show_prediction(model, image: np.ndarray, tta: bool, log: bool) -> Prediction:
    """The Prediction metric, confidence, TTA comparison, probability chart and 28x28 input."""
    pred = predict_digit(model, image, tta=tta)
    m1, m2 = st.columns(2)
    m1.metric("Prediction", str(pred.digit))
    m2.metric("Confidence", f"{pred.confidence:.1%}", help=confidence_help())
    tie = torn(pred.probs)
    if tie:
        other, p_other = tie
        st.info(f"Torn between **{pred.digit}** ({pred.confidence:.0%}) and **{other}** ({p_other:.0%}): to this "
                f"model your drawing could be either. The Why page shows what would make it a clear {other}.")
    if tta:
        if pred.tta_changes_answer:
            st.warning(f"TTA changes the answer: a single pass reads **{pred.plain_digit}** "
                       f"({pred.plain.max():.1%}), the average over shifted copies reads **{pred.digit}**.")
        else:
            st.caption(f"TTA agrees: a single pass also reads {pred.plain_digit} "
                       f"({pred.plain.max():.1%}); the TTA average gives {pred.confidence:.1%}.")
    c1, c2 = st.columns([1, 2])
    c1.plotly_chart(image_figure(image, title="Model input, 28x28", height=200),
                    config=PLOT_CONFIG, key="draw_input_fig")
    c2.plotly_chart(probability_chart(pred.probs, log=log, height=230),
                    config=PLOT_CONFIG, key="draw_probs_fig")
    averaged = f", averaged over {len(TTA_VIEWS)} shifted/rotated views (TTA)" if tta else ""
    st.caption("How to read this: the bars are the calibrated probabilities of the ViT's ten outputs "
               "(Dosovitskiy et al., 2021; softmax of the logits divided by the fitted temperature)" + averaged
               + "; the predicted digit is red. The grey square is the exact 28x28 image it classified, "
               "after MNIST-style cropping, scaling to 20x20 and centring by mass (LeCun et al., 1998). "
               "Turn on the log scale to see the runner-up doubts. The confidence is calibrated (hover the ? "
               "beside it): read 90 % as \"right about 9 times in 10\" on MNIST-like digits.")
    return pred


def show_upload(model, upload, tta: bool, log: bool, source: str = "upload") -> None:
    """An upload's (or photo's) result: decoded once per file, made the current digit, then predicted."""
    memo = st.session_state.get(UPLOAD_MEMO_KEY)
    if memo is None or memo[0] != upload.file_id:
        result = upload_to_digit(upload.getvalue())
        if result.ok:
            set_current(result.digit.image, source, raw=result.thumbnail, steps=result.digit.steps)
        st.session_state[UPLOAD_MEMO_KEY] = memo = (upload.file_id, result)
    result = memo[1]
    if result.error is not None:
        st.error(result.error)
        return
    if not result.digit.ok:
        st.warning(result.digit.message)
        return
    if result.digit.note:
        st.info(result.digit.note)
    if result.marked is not None:
        st.image(result.marked, caption=f"Your {source}: the boxed mark is what was read", width=200)
        if result.digit.photo:
            st.caption("How to read this: a photo of paper is cleaned first (uneven light divided out, ink "
                       "thresholded against its local paper, ruled lines and the paper's edge removed, the "
                       "largest mark kept); the Model page shows each step.")
    else:
        st.image(result.thumbnail, caption=f"Your {source}", width=120)
    show_prediction(model, result.digit.image, tta, log)
