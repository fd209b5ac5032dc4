"""Misclassified page (placeholder until its issue lands)."""
import streamlit as st

st.title("Misclassified")
st.info("This page is being built.")
