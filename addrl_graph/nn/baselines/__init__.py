"""Comparison models trained and evaluated by the same harness as AD-DRL.

- :class:`BPRMF`: matrix factorisation trained with BPR (Rendle et al., UAI 2009).
- :class:`LightGCNRanker`: LightGCN (He et al., SIGIR 2020) over the training user–item edges.
- :class:`VBPR`: visual BPR (He & McAuley, AAAI 2016) on the items' image and text features.
"""
from addrl_graph.nn.baselines.base import DotRanker
from addrl_graph.nn.baselines.bpr_mf import BPRMF
from addrl_graph.nn.baselines.lightgcn import LightGCNRanker
from addrl_graph.nn.baselines.vbpr import VBPR

__all__ = ['BPRMF', 'DotRanker', 'LightGCNRanker', 'VBPR']
