"""Figures of the "Watch it learn" page: validation accuracy and the digit's probabilities over
training steps (log axis), with the chosen snapshot marked. Pure functions; no Streamlit here."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


def learning_curve(steps: list[int], val_accuracy: list[float], p_answer: list[float], answer: int,
                   chosen: int, height: int = 300) -> go.Figure:
    """Validation accuracy of each snapshot and its probability for the final answer, against the
    training step on a log axis; the chosen snapshot is a vertical line."""
    data = [
        dict(type="scatter", x=steps, y=val_accuracy, mode="lines+markers", name="validation accuracy",
             hovertemplate="step %{x:,}: %{y:.2%} of 5,000 held-out digits right<extra></extra>"),
        dict(type="scatter", x=steps, y=p_answer, mode="lines+markers", name=f"P({answer}) for your digit",
             line=dict(dash="dot"), hovertemplate=f"step %{{x:,}}: P({answer}) = %{{y:.1%}}<extra></extra>"),
    ]
    layout = dict(height=height, margin=dict(l=10, r=10, t=10, b=10),
                  xaxis=dict(type="log", title="training step (log scale)"),
                  yaxis=dict(title="probability / accuracy", range=[0, 1.05], tickformat=".0%"),
                  legend=dict(orientation="h", y=-0.3),
                  shapes=[dict(type="line", x0=chosen, x1=chosen, y0=0, y1=1.05, yref="y",
                               line=dict(color="#d62728", width=2))])
    return go.Figure(data=data, layout=layout)


def probabilities_over_training(steps: list[int], probs: np.ndarray, height: int = 260) -> go.Figure:
    """One line per digit: how the ten probabilities for the digit moved over training."""
    probs = np.asarray(probs, dtype=float)                    # (snapshots, 10)
    data = [dict(type="scatter", x=steps, y=probs[:, d], mode="lines", name=str(d),
                 hovertemplate=f"step %{{x:,}}: P({d}) = %{{y:.1%}}<extra></extra>") for d in range(10)]
    layout = dict(height=height, margin=dict(l=10, r=10, t=10, b=10),
                  xaxis=dict(type="log", title="training step (log scale)"),
                  yaxis=dict(title="probability", range=[0, 1.05]), legend=dict(title="digit"))
    return go.Figure(data=data, layout=layout)
