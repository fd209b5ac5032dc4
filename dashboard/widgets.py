"""Controls more than one line long, built once so pages stay layout and prose: the table of
head ticks (Attention's knockout) and an explanation family's settings menu, generated from its
``Setting`` schema (Attributions)."""
from __future__ import annotations

import streamlit as st

from dashboard.attention_plots import head_name
from model import explain as E


def _clear_ticks(prefix: str, layers: int, heads: int) -> None:
    for i in range(layers):
        for h in range(heads):
            st.session_state[f"{prefix}_{i}_{h}"] = False


def head_ticks(layers: int, heads: int, prefix: str) -> list[tuple[int, int]]:
    """A layer x head table of checkboxes (keys ``{prefix}_{layer}_{head}``) and a button that clears
    them; returns the ticked (layer, head) pairs. The table keeps its heads + 1 columns on a phone
    too (cells shrink to 56 px)."""
    table = st.grid(heads + 1, wrap=False, min_column_width=56, gap="xsmall", vertical_alignment="center",
                    key=f"{prefix}_table")
    table.markdown("&nbsp;")
    for h in range(heads):
        table.markdown(f"**head {h + 1}**")
    ticked = []
    for i in range(layers):
        table.markdown(f"layer {i + 1}")
        for h in range(heads):
            if table.checkbox(head_name(i, h), key=f"{prefix}_{i}_{h}", label_visibility="collapsed"):
                ticked.append((i, h))
    st.button("Switch all heads back on", key=f"{prefix}_clear", on_click=_clear_ticks, args=(prefix, layers, heads))
    return ticked


def setting_widget(method: str, s, shared: dict):
    """One widget for the registry's ``Setting`` ``s`` of ``method`` (keys ``attr_{method}_{name}``);
    a setting named in ``shared`` (e.g. one baseline for every method) takes that value instead."""
    if s.name in shared:
        return shared[s.name]
    key, help_ = f"attr_{method}_{s.name}", s.help or None
    if s.kind == "int" and s.max - s.min > 1000:   # e.g. a random seed
        return st.number_input(s.label, int(s.min), int(s.max), int(s.default), 1, key=key, help=help_)
    if s.kind == "int":
        return st.slider(s.label, int(s.min), int(s.max), int(s.default), int(s.step or 1), key=key, help=help_)
    if s.kind == "float":
        return st.slider(s.label, float(s.min), float(s.max), float(s.default), float(s.step or 0.05), key=key,
                         help=help_)
    if s.kind == "bool":
        return st.checkbox(s.label, value=bool(s.default), key=key, help=help_)
    options = list(s.options)
    fmt = (lambda o: f"{'layer' if s.name == 'layer' else 'head'} {o + 1}" if isinstance(o, int) else str(o))  # noqa: E731
    if method == "noise_tunnel" and s.name == "base":
        fmt = lambda o: E.METHODS[o].label  # noqa: E731
    return st.selectbox(s.label, options, index=options.index(s.default), key=key, format_func=fmt, help=help_)


def method_settings(model, methods: list[str], shared: dict, cols: int = 3) -> dict[str, dict]:
    """The "Method settings" expander: every chosen attribution method's settings, one column per
    method; returns {method: {setting: value}}. Noise tunnel also shows the settings of its base method."""
    chosen: dict[str, dict] = {}
    if not methods:
        return chosen
    with st.expander("Method settings", expanded=False):
        columns = st.columns(min(len(methods), cols))
        for i, m in enumerate(methods):
            spec = E.METHODS[m]
            with columns[i % len(columns)]:
                st.markdown(f"**{spec.label}**")
                values = {s.name: setting_widget(m, s, shared) for s in spec.resolved_settings(model)}
                if m == "noise_tunnel":
                    base = values["base"]
                    for s in E.METHODS[base].settings:
                        if s.name not in values:
                            values[s.name] = setting_widget(f"nt_{base}", s, shared)
                    if base == "integrated_gradients":
                        st.caption(f"Cost: {values['nt_samples']} x {values['steps']} = "
                                   f"{values['nt_samples'] * values['steps']} gradient passes (about one second "
                                   "per 800 here); fewer steps are usually enough when averaging.")
                if not spec.settings:
                    st.caption("No settings.")
                chosen[m] = values
    return chosen


def query_picker(layers: int, grid: int, image, prefix: str) -> tuple[int, int, tuple[int, int] | None]:
    """Layer and query token (the class token or a patch, by row and column counted from 1; default the
    patch with the most ink): returns (layer, token index, (row, col) of the patch to mark or None)."""
    from model.maps import inkiest_patch, patch_token

    c1, c2, c3 = st.columns([1, 1, 1])
    with c1:
        layer = st.selectbox("Layer", list(range(layers)), index=layers - 1, format_func=lambda i: f"layer {i + 1}",
                             key=f"{prefix}_layer")
    with c2:
        kind = st.radio("Query", ["class token", "a patch"], horizontal=True, key=f"{prefix}_kind")
    if kind != "a patch":
        return layer, 0, None
    with c3:
        r0, c0 = inkiest_patch(image, grid)
        pr = st.slider("Patch row", 1, grid, r0 + 1, key=f"{prefix}_row")
        pc = st.slider("Patch column", 1, grid, c0 + 1, key=f"{prefix}_col")
    return layer, patch_token(pr - 1, pc - 1, grid), (pr - 1, pc - 1)


def rollout_controls(prefix: str) -> tuple[float, str]:
    """Attention rollout's two choices (Abnar & Zuidema, 2020): the discard ratio and the head fusion."""
    discard = st.slider("Discard ratio", 0.0, 0.9, 0.0, 0.05, key=f"{prefix}_discard",
                        help="Drop this fraction of the weakest attention weights in each layer first (sharper maps).")
    fusion = st.selectbox("Head fusion", ["mean", "max", "min"], key=f"{prefix}_fusion",
                          help="How the heads of a layer are combined before multiplying the layers.")
    return discard, fusion
