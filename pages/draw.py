"""Draw page: draw (or upload) a digit and see what the Vision Transformer reads.

The canvas is streamlit-drawable-canvas (Fabric.js freedraw, white ink on black like MNIST).
On every stroke release the drawing is turned into an MNIST-style 28x28 image
(:mod:`data.preprocess`, after LeCun et al., 1998) and classified by the shipped ViT; the
canvas and its result live in an ``st.fragment`` so a stroke reruns only them. The digit
becomes the app's *current digit* (:mod:`dashboard.state`), which the other pages explain.
"""
from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from dashboard.draw_views import show_prediction, show_upload
from dashboard.drawing import canvas_pixels, canvas_to_digit, has_strokes
from dashboard.nav import BY_NAME, page_link
from dashboard.resources import load_vit
from dashboard.state import DIGIT_PARAM, CurrentDigit, get_current, set_current, set_strokes
from data.strokes import stroke_objects
from model.inference import TTA_VIEWS

CANVAS_SIDE = 280        # px: fits a 390 px phone screen with Streamlit's margins
SOURCE_KEY = "draw_source"          # "drawing" or "upload": what the user touched last
SUBMITTED_KEY = "draw_submitted"    # hash of the canvas image last submitted (Submit mode)
EXPLAIN_NEXT = ("walkthrough", "attention", "attributions", "baseline")   # "Explain this digit:" links

st.title("Draw a digit")
st.caption("Draw a digit 0-9 with the mouse or a finger, as big as the box. The transformer "
           "reads it when you lift the pen; the other pages then explain *this* digit.")

MODEL = load_vit()       # a missing or corrupt weights file: one clear message and the page stops here


def _touch(source: str) -> None:
    st.session_state[SOURCE_KEY] = source


def _page_links() -> None:
    st.markdown("**Explain this digit:**")
    for col, name in zip(st.columns(len(EXPLAIN_NEXT)), EXPLAIN_NEXT):
        with col:
            page_link(name, BY_NAME[name].title, BY_NAME[name].icon)


def _show_current(current: CurrentDigit, tta: bool, log: bool) -> None:
    """The current digit when it did not come from this canvas (a test image, an earlier upload
    or drawing): shown and classified, but left as it is until the user draws."""
    what = current.source if current.source.startswith("test image") else f"your {current.source}"
    label = f" (true label {current.label})" if current.label is not None else ""
    st.info(f"Explaining {what}{label}. Draw on the canvas to replace it.")
    show_prediction(MODEL, current.image, tta, log)


@st.fragment
def draw_and_predict() -> None:
    # Canvas and result side by side (stacked on a phone: canvas, then result), the controls
    # and the upload below them. Containers fix the visual order; widgets are filled in the
    # order their values are needed.
    left, right = st.columns([1, 1.6], gap="large")
    with left:
        canvas_area = st.container()
        submit_area = st.container()
        st.caption("Clear, undo, redo: the toolbar at the canvas's top edge (hover, or tap the canvas).")
    controls, upload_area = st.columns([1, 1.6], gap="large")
    with controls:
        stroke = st.slider("Pen width", 8, 40, 20, step=2, key="draw_stroke",
                           help="MNIST strokes are about a tenth of the digit's height.")
        live = st.toggle("Live prediction", value=True, key="draw_live",
                         help="Off: predict only when you press Submit.")
        tta = st.toggle("Test-time augmentation (TTA)", value=False, key="draw_tta",
                        help=f"Average the prediction over the image and {len(TTA_VIEWS) - 1} copies shifted by "
                             "a pixel or rotated a few degrees.")
        log = st.toggle("Log-scale probabilities", value=False, key="draw_log",
                        help="The small probabilities are where the model's doubts are.")
    with upload_area:
        upload = st.file_uploader("Or upload a picture of a digit",
                                  type=["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"],
                                  key="draw_upload", on_change=lambda: _touch("upload"))
        with st.expander("Or take a photo of a digit written on paper", icon=":material/photo_camera:"):
            camera = st.camera_input("Camera", key="draw_camera", on_change=lambda: _touch("camera"),
                                     help="Write a digit large and dark on paper; hold the phone above it.")
    with canvas_area:
        from streamlit_drawable_canvas import st_canvas  # imports only inside a running Streamlit

        canvas = st_canvas(stroke_width=stroke, stroke_color="#FFFFFF", background_color="#000000",
                           height=CANVAS_SIDE, width=CANVAS_SIDE, drawing_mode="freedraw",
                           return_image_data=True, key="draw_canvas", on_change=lambda: _touch("drawing"))
    submit = False
    if not live:
        submit = submit_area.button("Submit", key="draw_submit", type="primary")

    with right:
        source = st.session_state.get(SOURCE_KEY)
        # decoding the canvas PNG is only worth it when the drawing is what the user touched last
        rgba = canvas.image_data if source == "drawing" else None
        if source == "upload" and upload is not None:
            show_upload(MODEL, upload, tta, log)
        elif source == "camera" and camera is not None:
            show_upload(MODEL, camera, tta, log, source="photo")        # the same path as an upload
        elif rgba is not None:
            _handle_drawing(canvas, canvas_pixels(rgba, CANVAS_SIDE), live, submit, tta, log)
        else:
            current = get_current()
            if current is not None:
                _show_current(current, tta, log)
            else:
                st.info("Draw a digit 0-9 on the black canvas.")
        if get_current() is not None:
            _page_links()


def _handle_drawing(canvas, rgba: np.ndarray, live: bool, submit: bool, tta: bool, log: bool) -> None:
    if not has_strokes(canvas.json_data):
        st.info("The canvas is empty: draw a digit 0-9.")
        return
    if not live:
        digest = hashlib.md5(np.ascontiguousarray(rgba).tobytes()).hexdigest()   # Submit mode only
        if submit:
            st.session_state[SUBMITTED_KEY] = digest
        if st.session_state.get(SUBMITTED_KEY) != digest:
            st.info("Press **Submit** to read this drawing.")
            return
    digit = canvas_to_digit(rgba)
    if not digit.ok:
        st.warning(digit.message)
        return
    # the canvas's own PNG (a few kB) stands for ``rgba``: decoded and shrunk again only where a page shows it
    set_current(digit.image, "drawing", raw=canvas.image_bytes, raw_side=CANVAS_SIDE)
    set_strokes(stroke_objects(canvas.json_data))      # the Why page replays them
    st.query_params.pop(DIGIT_PARAM, None)             # a shared link's digit is no longer the one shown
    show_prediction(MODEL, digit.image, tta, log)


draw_and_predict()
