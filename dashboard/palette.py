"""The app's one palette and one plotly chart config: every page and figure builder takes its
colours from here, so a series, a digit or a highlight has the same colour everywhere."""
from __future__ import annotations

# plotly's default qualitative colours (D3 category10): one per digit 0-9, and for series (lines, layers)
CATEGORY = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf")
DIGIT_COLORS = CATEGORY                                # digit d is CATEGORY[d]
# lines and layers: CATEGORY without grey (kept for yardsticks), cyan before olive
SERIES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
HIGHLIGHT = "#d62728"                                  # the predicted digit, a knocked-out result
MUTED = "#7f7f7f"                                      # the other bars
REFERENCE = "#9e9e9e"                                  # a yardstick: the random order, the original bars
DIVERGING = "RdBu_r"                                   # signed values: blue = against, red = for
SEQUENTIAL = "Viridis"                                 # non-negative values

# every st.plotly_chart in the app: no floating toolbar (it covers small plots on a phone)
PLOT_CONFIG = {"displayModeBar": False}
