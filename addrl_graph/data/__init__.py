"""The processed graph: its schema (:mod:`addrl_graph.data.schema`)."""
from addrl_graph.data.schema import (GRAPH_FILE, INTERACTS, META_FILE, REV_INTERACTS, TEST,
                                     TRAIN, VALID, attribute_names, has_edge, load_graph,
                                     rev_has_edge, save_graph, split_edges, validate_graph)

__all__ = ['GRAPH_FILE', 'INTERACTS', 'META_FILE', 'REV_INTERACTS', 'TEST', 'TRAIN', 'VALID',
           'attribute_names', 'has_edge', 'load_graph', 'rev_has_edge', 'save_graph',
           'split_edges', 'validate_graph']
