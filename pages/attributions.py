"""Attributions page (placeholder until its issue lands)."""
import streamlit as st

st.title("Attributions")
st.info("This page is being built.")
