"""Model core: the Vision Transformer, its training, the random-forest baseline, test-set
evaluation and the explanation methods. Never imports streamlit."""
