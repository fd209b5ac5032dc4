"""Data: the MNIST files shipped in this repository and the preprocessing that turns any
drawing or upload into an MNIST-style 28x28 input. Never imports streamlit."""
