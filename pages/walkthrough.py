"""Walkthrough page (placeholder): follow the current digit through the transformer's forward pass.
The real page is written on another branch (issue 19); this one keeps the page table runnable."""
import streamlit as st

st.title("Walkthrough: follow your digit through the transformer")
st.caption("Coming soon: every stage of the forward pass, from 784 pixels to ten probabilities, for your digit.")
