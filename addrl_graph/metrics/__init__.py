"""Full-ranking evaluation, its metrics (overall and per user) and the paired tests over users
(:mod:`addrl_graph.metrics.significance`)."""
from addrl_graph.metrics.evaluate import evaluate
from addrl_graph.metrics.per_user import UserMetrics
from addrl_graph.metrics.ranking import ALL_METRICS, DEFAULT_METRICS

__all__ = ['evaluate', 'UserMetrics', 'ALL_METRICS', 'DEFAULT_METRICS']
