"""Comparison models trained and evaluated by the same harness as AD-DRL.

- :class:`BPRMF`: matrix factorisation trained with BPR (Rendle et al., UAI 2009).
- :class:`LightGCNRanker`: LightGCN (He et al., SIGIR 2020) over the training user–item edges.
- :class:`VBPR`: visual BPR (He & McAuley, AAAI 2016) on the items' image and text features.
- :class:`DMRL`: disentangled multimodal factors with per-user modality weights (Liu et al.,
  IEEE TMM 2022).
- :class:`DGCF`: disentangled graph collaborative filtering (Wang et al., SIGIR 2020).
- :class:`FREEDOM`: a frozen item–item graph and a pruned user–item graph (Zhou & Shen, ACM MM
  2023).
"""
from addrl_graph.nn.baselines.base import DotRanker
from addrl_graph.nn.baselines.bpr_mf import BPRMF
from addrl_graph.nn.baselines.dgcf import DGCF
from addrl_graph.nn.baselines.dmrl import DMRL
from addrl_graph.nn.baselines.freedom import FREEDOM
from addrl_graph.nn.baselines.lightgcn import LightGCNRanker
from addrl_graph.nn.baselines.vbpr import VBPR

__all__ = ['BPRMF', 'DGCF', 'DMRL', 'DotRanker', 'FREEDOM', 'LightGCNRanker', 'VBPR']
