"""Baseline page (placeholder until its issue lands)."""
import streamlit as st

st.title("Baseline")
st.info("This page is being built.")
