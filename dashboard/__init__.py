"""The Streamlit dashboard: entry point, the one place where models and tables are loaded
and cached, session state for the current digit, and shared plotting helpers."""
