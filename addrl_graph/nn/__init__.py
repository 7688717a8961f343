"""The models: AD-DRL, its ID encoders, its loss, and the comparison models."""
