"""Per-attribute explanations, control, studies, plots and reports of trained models."""
from addrl_graph.explain.explainer import (Explainer, Explanation, Recommendation, explain,
                                           recommend)

__all__ = ['Explainer', 'Explanation', 'Recommendation', 'explain', 'recommend']
