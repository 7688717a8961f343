"""Full-ranking evaluation and its metrics."""
from addrl_graph.metrics.evaluate import evaluate

__all__ = ['evaluate']
