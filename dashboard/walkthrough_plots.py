"""Figures, step texts and formulas of the Walkthrough page: one digit followed through the ViT,
stage by stage (:mod:`model.explain.walkthrough`). Pure functions of its result; no Streamlit
calls here. Figures are built from one dict each (plotly's update_* calls cost ~25 ms a figure).

Sources: Dosovitskiy et al., 2021 (the ViT); Xiao et al., 2021 (the convolutional stem);
Vaswani et al., 2017 (attention); nostalgebraist, 2020 (the logit lens); Guo et al., 2017
(temperature scaling).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from dashboard.inside_plots import mosaic
from dashboard.map_grid import map_figure
from dashboard.plots import DIVERGING, SEQUENTIAL

AXIS = dict(showticklabels=False, showgrid=False, zeroline=False)


@dataclass(frozen=True)
class Step:
    short: str                 # the free mode's button
    title: str
    nodes: tuple[int, ...]     # the overview diagram's boxes it lights up
    text: str                  # two or three plain sentences for a learner
    how: str                   # "how to read this" caption of its figures, with the source


STEPS: tuple[Step, ...] = (
    Step("Pixels", "1. The pixels", (0,),
         "The model sees your digit as {side}x{side} numbers between 0 (black) and 1 (ink). Before anything "
         "else it shifts and scales them with the MNIST mean and standard deviation, so that a typical pixel "
         "is near 0.",
         "How to read this: left, the pixels the model received (hover for values); right, the same after "
         "normalisation (red above 0, blue below: the black background becomes slightly negative). Source: "
         "Dosovitskiy et al., 2021, who feed the ViT normalised images."),
    Step("Stem", "2. The stem: from pixels to feature maps", (1, 2),
         "Two small convolutions slide 3x3 filters over the image, each time halving its size: {c1} maps of "
         "{s1}x{s1}, then {c2} maps of {g}x{g}. Each map lights up where its filter finds its pattern (an "
         "edge, a curve, a stroke end).",
         "How to read this: each small square is one channel's feature map, bright = strong response. The stem"
         " of two stride-2 convolutions replaces the ViT's plain patch cutting (Xiao et al., 2021; Dosovitskiy"
         " et al., 2021)."),
    Step("Tokens", "3. {p} patch tokens", (3,),
         "Each of the {g}x{g} positions becomes one *token*: a list of {d} numbers describing a {ps}x{ps} "
         "patch of the digit and its neighbourhood. From here on the model works on tokens, like a language "
         "model on words.",
         "How to read this: one row per token (patch 1 = top left, reading order), one column per number; red "
         "positive, blue negative. Right: the {ps}x{ps} pixels one token stands for and its {d} numbers "
         "(Dosovitskiy et al., 2021, Eq. 1)."),
    Step("Positions", "4. Class token and positions", (4,),
         "A {n}th token, the *class token*, is put in front: it holds no pixels and will collect the answer. "
         "Each token then gets a learned *position embedding* added, so the model knows where on the grid a "
         "patch sits.",
         "How to read this: the {n} tokens before and after the position embeddings are added; the map shows "
         "how similar (cosine) the chosen token's position embedding is to every patch's (Dosovitskiy et al., "
         "2021, Fig. 7)."),
    Step("LayerNorm, q k v", "5. Inside a block: LayerNorm, queries, keys, values", (5,),
         "Each block first normalises every token (LayerNorm). A head then turns each token into a *query* "
         "(what it looks for), a *key* (what it offers) and a *value* (what it passes on), {hd} numbers each.",
         "How to read this: LayerNorm output of every token, then the chosen head's query for the chosen token"
         " and the keys and values of all {n} tokens, {hd} numbers each (Vaswani et al., 2017, Sec. 3.2)."),
    Step("Scores", "6. Attention scores and softmax", (5,),
         "The query of the chosen token is compared with every key: a dot product, divided by {sq} (the square"
         " root of {hd}). The softmax turns the {n} scores into attention weights that are positive and add up"
         " to 1.",
         "How to read this: the maps put each patch's score or weight where the patch sits on your digit; the "
         "class token's is in the title. The animation plays the same head's attention block by block (Vaswani"
         " et al., 2017)."),
    Step("Mix", "7. Mixing values, heads, residual", (5,),
         "The head's output is the attention-weighted average of the values. The {heads} heads' outputs are "
         "put side by side ({d} numbers), projected, and *added* to the token: the residual stream keeps what "
         "was there.",
         "How to read this: rows are the {heads} heads' weighted sums for the chosen token; below, the token "
         "before the block, what attention adds, and the sum (the residual connection, Vaswani et al., 2017; "
         "Dosovitskiy et al., 2021)."),
    Step("MLP", "8. The MLP", (5,),
         "Each token then goes alone through a small two-layer network: {hidden} hidden units with a GELU, "
         "back to {d} numbers, added to the residual stream again. This is where most of the per-token "
         "computing happens.",
         "How to read this: the {hidden} hidden units after the GELU for the chosen token, the {top} strongest"
         " in red; below, the residual stream before and after the MLP adds its output (Dosovitskiy et al., "
         "2021, Eq. 3)."),
    Step("Stream", "9. The residual stream across blocks", (5,),
         "The same happens in {depth} blocks. Reading the class token after each block through the final layer"
         " shows when the answer forms (the *logit lens*).",
         "How to read this: top, the class token's {d} numbers after each block; below, each row read through "
         "the final LayerNorm and head as if the model stopped there (logit lens, nostalgebraist, 2020)."),
    Step("Answer", "10. The answer", (6, 7, 8),
         "The class token is normalised one last time and a linear layer turns its {d} numbers into {classes} "
         "scores (logits). Dividing by the fitted temperature and a softmax give the probabilities the app "
         "shows.",
         "How to read this: the ten logits, then the probabilities at the temperature on the slider. The "
         "shipped temperature was fitted on the validation split so that confidence matches accuracy (Guo et "
         "al., 2017)."),
)


def arch(cfg) -> dict:
    """The architecture's sizes by name, for the step texts (``Step.text.format(**arch(cfg))``)."""
    from model.explain.walkthrough import TOP_UNITS

    hd = cfg.dim // cfg.heads
    return dict(side=cfg.image_size, c1=cfg.stem_channels, c2=2 * cfg.stem_channels, s1=2 * cfg.grid, g=cfg.grid,
                p=cfg.grid ** 2, ps=cfg.patch_size, d=cfg.dim, n=cfg.num_tokens, hd=hd, sq=f"{hd ** 0.5:g}",
                heads=cfg.heads, hidden=int(cfg.dim * cfg.mlp_ratio), top=TOP_UNITS, depth=cfg.depth,
                classes=cfg.num_classes)


def nodes(stages: list[dict], depth: int) -> list[tuple[str, str]]:
    """(box label, shape on the arrow out of it) of the overview diagram, shapes from the result's stages."""
    s = {d["name"]: "x".join(str(v) for v in d["shape"]) for d in stages}
    return [("pixels", s["pixels"]), ("conv 1", s["stem conv 1"]), ("conv 2", s["stem conv 2"]),
            ("tokens", s["patch tokens"]), ("+ class<br>+ pos", s["class token + positions"]),
            (f"{depth}<br>blocks", s["class token + positions"]), ("final<br>LN", s["final LayerNorm"]),
            ("head", s["logits"]), ("soft-<br>max", s["probabilities"])]


def overview_figure(stages: list[dict], depth: int, lit: tuple[int, ...], height: int = 150) -> go.Figure:
    """The architecture as boxes left to right, the tensor shape on every arrow (alternately higher
    and lower so that they never overlap on a phone), ``lit`` boxes in red."""
    boxes = nodes(stages, depth)
    n = len(boxes)
    rects = [dict(type="rect", x0=i - 0.3, x1=i + 0.3, y0=-0.22, y1=0.22, line=dict(width=0),
                  fillcolor="#d62728" if i in lit else "#9aa5b1") for i in range(n)]
    data = [dict(type="scatter", x=list(range(n)), y=[-0.3] * n, mode="text", text=[b[0] for b in boxes],
                 textposition="bottom center", textfont=dict(size=11), hoverinfo="skip")]
    arrows = [dict(x=i + 0.68, y=0, ax=i + 0.32, ay=0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                   arrowhead=2, arrowwidth=1.5, arrowcolor="#555") for i in range(n - 1)]
    labels = [dict(x=i + 0.5, y=0.3 + 0.22 * (i % 2), text=f"<b>{boxes[i][1]}</b>", showarrow=False,
                   font=dict(size=10)) for i in range(n - 1)]          # what box i hands to box i + 1
    layout = dict(height=height, margin=dict(l=4, r=4, t=4, b=4), showlegend=False, plot_bgcolor="white",
                  xaxis=dict(range=[-0.5, n - 0.5], fixedrange=True, **AXIS), shapes=rects,
                  yaxis=dict(range=[-1.0, 0.62], fixedrange=True, **AXIS), annotations=arrows + labels)
    return go.Figure(data=data, layout=layout)


def heatmap(z: np.ndarray, title: str = "", colorscale: str = DIVERGING, zmid: float | None = 0.0,
            x: list | None = None, y: list | None = None, height: int = 260, square: bool = False,
            hover: str = "row %{y}, col %{x}: %{z:.3f}") -> go.Figure:
    """A labelled heatmap (row 0 at the top) with values on hover."""
    hm = dict(type="heatmap", z=np.asarray(z, dtype=float), x=x, y=y, colorscale=colorscale, zmid=zmid,
              hovertemplate=hover + "<extra></extra>", colorbar=dict(thickness=10), hoverongaps=False)
    yaxis = dict(autorange="reversed", **({"scaleanchor": "x"} if square else {}))
    return go.Figure(data=[hm], layout=dict(height=height, title=dict(text=title, font=dict(size=13)),
                                            margin=dict(l=0, r=0, t=30 if title else 4, b=0),
                                            xaxis=dict(constrain="domain") if square else {}, yaxis=yaxis))


def bars(values: np.ndarray, title: str, highlight: list[int] | None = None, labels: list[str] | None = None,
         height: int = 220) -> go.Figure:
    """Bars of one vector, ``highlight`` indices in red."""
    v = np.asarray(values, dtype=float)
    lit = set(highlight or [])
    colors = ["#d62728" if i in lit else "#1f77b4" for i in range(len(v))]
    x = labels or list(range(len(v)))
    bar = dict(type="bar", x=x, y=v, marker=dict(color=colors), hovertemplate="%{x}: %{y:.3f}<extra></extra>")
    return go.Figure(data=[bar], layout=dict(height=height, title=dict(text=title, font=dict(size=13)),
                                             margin=dict(l=0, r=0, t=30, b=0), xaxis=dict(type="category"),
                                             showlegend=False))


def feature_mosaic(maps: np.ndarray, cols: int, title: str) -> go.Figure:
    """All channels of a stem layer as one mosaic of small maps (NaN gaps between them)."""
    return heatmap(mosaic(maps, cols), title, colorscale=SEQUENTIAL, zmid=None, square=True, height=330,
                   hover="%{z:.3f}")


def token_map(values: np.ndarray, title: str, pixels: np.ndarray, colorscale: str = SEQUENTIAL,
              zmid: float | None = None, marker: int | None = None) -> go.Figure:
    """50 per-token values as a 7x7 map over the digit (the class token's value goes in the title);
    ``marker``: the token (1..49) to outline."""
    v = np.asarray(values, dtype=float)
    g = int(round((len(v) - 1) ** 0.5))
    m = None if not marker else divmod(int(marker) - 1, g)
    return map_figure(v[1:].reshape(g, g), f"{title} (class token: {v[0]:.3f})", background=pixels,
                      colorscale=colorscale, zmid=zmid, marker=m, height=290, title_lines=3)


def attention_animation(query_attention: np.ndarray, head: int, token: int, pixels: np.ndarray) -> go.Figure:
    """Plotly frames, one per block: the query token's attention (head ``head``, 1-based) over the 7x7
    patches on the digit; the class token's share in each frame's title. Play steps through the blocks."""
    a = np.asarray(query_attention, dtype=float)[:, head - 1]          # (L, 50)
    L, g = a.shape[0], int(round((a.shape[1] - 1) ** 0.5))
    zmax = float(a[:, 1:].max())
    who = "the class token" if token == 0 else f"patch {token}"

    def hm(i: int) -> dict:
        return dict(type="heatmap", z=a[i, 1:].reshape(g, g), x0=1.5, dx=4, y0=1.5, dy=4, zmin=0, zmax=zmax,
                    colorscale="Hot", opacity=0.75, colorbar=dict(thickness=10, title="weight"),
                    hovertemplate="attention %{z:.3f}<extra></extra>")

    bg = dict(type="heatmap", z=np.asarray(pixels, dtype=float), colorscale="gray", zmin=0, zmax=1,
              showscale=False, hoverinfo="skip")
    title = lambda i: f"Block {i + 1}, head {head}: where {who} looks (class token {a[i, 0]:.2f})"  # noqa: E731
    frames = [dict(name=str(i + 1), data=[bg, hm(i)], layout=dict(title=dict(text=title(i)))) for i in range(L)]
    play = dict(type="buttons", direction="left", x=0, y=-0.02, xanchor="left", yanchor="top", showactive=False,
                buttons=[dict(label="Play", method="animate",
                              args=[None, dict(frame=dict(duration=900, redraw=True), fromcurrent=False)])])
    slider = dict(active=0, x=0.2, len=0.8, y=0, yanchor="top", currentvalue=dict(prefix="block "),
                  steps=[dict(label=str(i + 1), method="animate",
                              args=[[str(i + 1)], dict(mode="immediate", frame=dict(duration=0, redraw=True))])
                         for i in range(L)])
    layout = dict(height=380, title=dict(text=title(0), font=dict(size=13)), margin=dict(l=0, r=0, t=34, b=70),
                  xaxis=dict(constrain="domain", **AXIS), yaxis=dict(autorange="reversed", scaleanchor="x", **AXIS),
                  updatemenus=[play], sliders=[slider])
    return go.Figure(data=[bg, hm(0)], layout=layout, frames=frames)


def answer_figure(logits: np.ndarray, temperature: float) -> go.Figure:
    """Probabilities softmax(logits / temperature) as the app's probability chart would draw them."""
    from dashboard.plots import probability_chart

    z = np.asarray(logits, dtype=float) / temperature
    p = np.exp(z - z.max())
    return probability_chart(p / p.sum(), title=f"softmax(logits / {temperature:.2f})")


def lens_figure(lens: np.ndarray, depth: int) -> go.Figure:
    """The class token's logit-lens probabilities: one row per stage, one column per digit."""
    from dashboard.inside_plots import logit_lens_figure

    return logit_lens_figure(np.asarray(lens), lens_stages(depth), int(np.argmax(lens[-1])))


def lens_stages(depth: int) -> list[str]:
    return ["embedding"] + [f"after block {i + 1}" for i in range(depth)]


def shown_patch(r) -> int:
    """The patch (1..49) the tokens step details: the query token, or the inkiest patch for the class token."""
    return r.token if r.token > 0 else int(np.argmax(r.patches.sum(axis=(1, 2)))) + 1


def token_name(t: int, g: int = 7) -> str:
    return "the class token" if t == 0 else f"patch {t} (row {(t - 1) // g + 1}, column {(t - 1) % g + 1})"


def formulas(r, step: int) -> list[str]:
    """LaTeX of step ``step`` (0-based) with the chosen token's real numbers plugged in."""
    t, v = r.token, lambda a, k=3: ", ".join(f"{x:.2f}" for x in np.asarray(a)[:k]) + r", \dots"
    if step == 0:
        i = np.unravel_index(int(np.argmax(r.pixels)), r.pixels.shape)
        return [rf"\hat x = \frac{{x - {r.mean}}}{{{r.std}}} \quad\Rightarrow\quad "
                rf"\frac{{{r.pixels[i]:.3f} - {r.mean}}}{{{r.std}}} = {r.normalised[i]:.3f}"]
    if step == 1:
        return [r"h = \mathrm{GELU}\big(\mathrm{BN}(W * \hat x)\big), \qquad \mathrm{BN}(u) = "
                r"\gamma\,\frac{u - \mu_{\mathrm{run}}}{\sqrt{\sigma^2_{\mathrm{run}} + \epsilon}} + \beta"]
    if step == 2:
        p = shown_patch(r)
        return [rf"\text{{token}}_{{{p}}} = W_{{1\times1}}\,h_{{2}}[\cdot, r, c] + b = ({v(r.tokens[p - 1])})"]
    if step == 3:
        e = r.embed[t] - r.pos_embed[t]
        return [rf"z^0 = [\,x_{{\mathrm{{class}}}};\ x_1;\ \dots;\ x_{{{len(r.tokens)}}}\,] + E_{{\mathrm{{pos}}}}",
                rf"z^0_{{{t}}} = ({v(e)}) + ({v(r.pos_embed[t])}) = ({v(r.embed[t])})"]
    x = r.resid_pre[t]
    if step == 4:
        mu, sd = float(x.mean()), float(x.std())
        return [rf"\mathrm{{LN}}(x) = \gamma\,\frac{{x - \mu}}{{\sigma}} + \beta, \quad \mu = {mu:.3f},\ "
                rf"\sigma = {sd:.3f}", rf"q = W_Q\,\mathrm{{LN}}(x) + b_Q = ({v(r.q, 4)})"]
    j = int(np.argmax(r.attention))
    if step == 5:
        dot = float(r.q @ r.k[j])
        hd = len(r.q)
        return [rf"s_j = \frac{{q \cdot k_j}}{{\sqrt{{{hd}}}}} \quad\Rightarrow\quad s_{{{j}}} = "
                rf"\frac{{{dot:.3f}}}{{{hd ** 0.5:g}}} = {r.scores[j]:.3f}",
                rf"a_j = \frac{{e^{{s_j}}}}{{\sum_{{i=0}}^{{{len(r.scores) - 1}}} e^{{s_i}}}} \quad\Rightarrow\quad "
                rf"a_{{{j}}} = "
                rf"{r.attention[j]:.3f}\ \text{{(model: {r.model_attention[j]:.3f})}}"]
    if step == 6:
        h = r.head - 1
        return [rf"z = \sum_j a_j v_j = ({v(r.z[h], 4)})",
                rf"x_{{\mathrm{{mid}}}} = x + W_O\,[z^{{(1)}}; \dots; z^{{({len(r.z)})}}] + b_O",
                rf"\lVert x\rVert = {np.linalg.norm(x):.2f} \ \to\ \lVert x_{{\mathrm{{mid}}}}\rVert = "
                rf"{np.linalg.norm(r.resid_mid):.2f}"]
    if step == 7:
        u = r.top_units[0]
        return [r"x_{\mathrm{out}} = x_{\mathrm{mid}} + W_2\,"
                r"\mathrm{GELU}(W_1\,\mathrm{LN}(x_{\mathrm{mid}}) + b_1) + b_2",
                rf"\text{{strongest unit }} {u}: \ \mathrm{{GELU}}(\dots) = {r.hidden[u]:.3f}"]
    if step == 8:
        return [r"p^{(\ell)} = \mathrm{softmax}\big(W\,\mathrm{LN}_f(z^{\ell}_0) + b\big)"]
    c = int(np.argmax(r.probabilities))
    return [rf"p_c = \frac{{e^{{\ell_c / T}}}}{{\sum_{{c'}} e^{{\ell_{{c'}} / T}}}} \quad\Rightarrow\quad "
            rf"p_{{{c}}} = \frac{{e^{{{r.recomputed_logits[c]:.2f} / {r.temperature:.2f}}}}}{{\dots}} = "
            rf"{r.probabilities[c]:.3f}"]
