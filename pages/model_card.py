"""Model page: a model card (Mitchell et al., 2019, "Model Cards for Model Reporting") for the
shipped Vision Transformer: its architecture (the loaded model's config and parameter counts), the
training curves and command (``vit_metrics.json``), the architecture experiments (``experiments.jsonl``,
a line per ``python -m model.train`` run), preprocessing step by step on the current digit, test-set
accuracy and calibration (``evaluation.json``), known limitations and the MNIST licence credit.

Layout and explanation only: the tables and figures are drawn by :mod:`dashboard.card_views`, and no
number on this page is typed in: each comes from an artifact or the model."""
from __future__ import annotations

import streamlit as st

from dashboard import card_views as V
from dashboard import model_plots as M
from dashboard import resources
from dashboard.evaluation import EVALUATE_CMD
from dashboard.state import get_current, prompt_for_digit
from data.preprocess import ENLARGED, NEGATIVE, ZOOM_UNDONE, ZOOMED_IN
from model import paths


def architecture() -> None:
    st.subheader("Architecture")
    if not paths.VIT_WEIGHTS.is_file():
        st.warning(f"No trained transformer yet: run `{M.TRAIN_CMD}` (writes model/artifacts/vit.safetensors).")
        return
    vit = resources.load_vit()
    st.markdown(M.architecture_text(vit.cfg))
    if vit.cfg.stem == "conv":
        st.caption("This model cuts patches with a small convolutional stem (Xiao et al., 2021, \"Early "
                   "Convolutions Help Transformers See Better\"): each token still stands for one patch but has "
                   "seen a little of its neighbours. Compare the conv and linear stems in the experiments table below.")
    V.config_and_params(vit)
    st.caption("Source: the configuration stored in the weights file and parameter counts of the loaded model.")


def training(metrics: dict) -> None:
    st.subheader("Training")
    if not metrics.get("history"):
        st.warning(f"No training log yet: run `{M.TRAIN_CMD}` (writes model/artifacts/vit_metrics.json).")
        return
    V.training_curves(metrics["history"])
    split = (metrics.get("validation_split") or {}).get("description")
    st.caption("How to read this: per-epoch figures from `vit_metrics.json`. Training figures are measured on "
               "augmented images, so they can sit below the validation figures. "
               + (f"The validation split is {split}: held out from training, it is what every choice of recipe "
                  "was made on; the test set was not looked at during training." if split else ""))
    V.training_record(metrics)


def preprocessing() -> None:
    st.subheader("Preprocessing, step by step")
    cur = get_current()
    if cur is None:
        prompt_for_digit("card_use_test", "No digit yet: draw one to see each preprocessing step applied to it.")
        return
    if cur.raw_file is None:
        st.info(f"The current digit ({cur.source}) came from MNIST already normalised: it was size-normalised to "
                "20x20 and centred by mass in 28x28 when the dataset was made, so it needs no preprocessing. "
                "Draw or upload a digit to see each step.")
        V.model_input(cur.image)
        return
    steps = cur.steps if cur.steps else M.preprocess_steps(cur.raw)     # the upload's own steps, at its full size
    st.caption("A drawing is made to look like MNIST, the way MNIST itself was made (LeCun et al., 1998): ink "
               "made bright on black, cropped, scaled to fit 20x20 and centred by mass in 28x28.")
    if "illumination corrected" in steps:
        st.caption("This was a photo or scan of paper, so it was cleaned first: the paper's uneven light was "
                   "estimated by a morphological closing and divided out (illumination corrected), ink was "
                   "thresholded against its local paper (a local threshold, after Sauvola & Pietikainen, 2000), "
                   "long straight paper lines, the paper's edge and specks were removed, and the largest "
                   "plausible mark was kept (chosen mark).")
    if NEGATIVE in steps:
        st.caption("This photo showed light marks on a dark surface (chalk on a blackboard, say), so its negative "
                   "was read: the photo steps expect dark ink on light paper.")
    if any(name.startswith(ZOOM_UNDONE) for name in steps):
        st.caption("This picture was a small one enlarged by repeating its pixels (a zoomed screenshot): its "
                   "blocks' hard edges would have left a staircase no MNIST digit has, so it was first taken back "
                   "to its own pixels (each block's mean) and then read like any small scan.")
    if any(name.startswith(ZOOMED_IN) for name in steps):
        st.caption("The digit was small in a large picture (a whole page photographed or scanned): read at the "
                   "size photos are worked on, its strokes were only a pixel or two wide, so it was read again "
                   "from the picture's own pixels round it.")
    if any(name.startswith(ENLARGED) for name in steps):
        st.caption("The digit was smaller than MNIST's 20-pixel box (a low-resolution scan), so it was first "
                   "enlarged smoothly (bicubic): at its own size a stroke is one to three pixels wide, and it could "
                   "only be thinned or thickened by whole pixels; enlarged, by fractions of them.")
    V.step_grid(steps)


def experiments() -> None:
    st.subheader("Architecture experiments")
    runs = resources.load_experiments()
    if not runs:
        st.warning(f"No experiments log yet: each `{M.TRAIN_CMD}` run appends a line to "
                   "model/artifacts/experiments.jsonl.")
        return
    V.experiments_table(runs)
    st.caption("Every training run on the way to the shipped model, as logged by the training command itself "
               "(model/artifacts/experiments.jsonl), in the order they ran. Runs with a validation accuracy held "
               "out the last 5,000 training images and were compared on them. The older runs, logged before that "
               "split existed, trained on all 60,000 and recorded the test accuracy: they were compared on the test "
               "set, so read their figures as history, not as an unbiased estimate.")


def accuracy(evaluation: dict) -> None:
    st.subheader("Accuracy on the 10,000 MNIST test images")
    if not evaluation:
        st.warning(f"No test-set evaluation yet: run `{EVALUATE_CMD}`.")
        return
    V.accuracy_table(evaluation)
    st.caption(f"Source: `evaluation.json`, written by `{evaluation.get('command', EVALUATE_CMD)}`.")


def calibration(evaluation: dict) -> None:
    st.subheader("Can the confidence be trusted? Calibration")
    vit_eval = evaluation.get("vit", {}) if evaluation else {}
    if not vit_eval.get("reliability"):
        st.warning(f"No calibration figures yet: run `{EVALUATE_CMD}`.")
        return
    V.calibration_figures(vit_eval)
    st.caption(
        "How to read this: the 10,000 test digits are sorted into bins by the model's top probability; each "
        "point is a bin's average confidence (x) against how often the model was actually right in it (y), and "
        "the dot size shows how many digits fell in the bin. A perfectly calibrated model lies on the diagonal. "
        "The expected calibration error (ECE) is the average gap, weighted by bin size (Naeini et al., 2015). "
        "Temperature scaling (Guo et al., 2017, \"On Calibration of Modern Neural Networks\") divides every "
        "logit by one number fitted on the validation split, never on the test set: the answer never changes, "
        "only how sure it sounds. The Draw page shows the scaled confidence. Almost all test digits land in the "
        "top bin, so the other bins hold few digits and their points jump around.")


def limitations(metrics: dict) -> None:
    st.subheader("Known limitations")
    st.markdown(
        "- It only knows the ten digits: a letter, a symbol or a doodle still gets one of ten answers, often "
        "with high confidence. Probabilities are not a measure of how digit-like the input is.\n"
        "- MNIST digits are American handwriting from the early 1990s, written with a pen, centred and upright. "
        "Styles that are rarer there (a crossed 7, an open-top 4, a 1 with a serif and a base) may be read less "
        "reliably.\n"
        "- Strongly rotated, slanted, very thin, very bold, or partly erased digits, two digits in one picture, "
        "and digits touching the edge of the canvas are the drawings most often misread.\n"
        "- Preprocessing assumes one dark-on-light or light-on-dark digit; photos with shadows, lines or "
        "textured paper can leave marks that are read as ink.\n"
        "- Test-set accuracy is measured on MNIST's own test images; drawings made with a mouse or finger differ "
        "from them, so expect more mistakes in the app than the table above suggests."
        + M.smoothing_note(metrics.get("label_smoothing")))
    st.caption("See the Misclassified page for the test images it gets wrong.")


st.title("Model card")
st.caption("What the model is, how it was trained, how well it does and where it fails "
           "(after Mitchell et al., 2019, \"Model Cards for Model Reporting\").")
metrics, evaluation = resources.load_json("vit_metrics.json"), resources.load_json("evaluation.json")
architecture()
training(metrics)
preprocessing()
experiments()
accuracy(evaluation)
calibration(evaluation)
limitations(metrics)
st.subheader("Data")
st.markdown(
    "Trained and tested on the MNIST database of handwritten digits by Yann LeCun, Corinna Cortes and "
    "Christopher J. C. Burges, used under the Creative Commons Attribution-Share Alike 3.0 licence "
    "(CC BY-SA 3.0). The original IDX files ship in `data/mnist/`, checked by their MD5 sums.")
