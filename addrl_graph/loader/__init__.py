"""Mini-batches of BPR triplets over the training edges, read through PyG link loaders."""
from addrl_graph.loader.batch import SampledGraph, TripletBatch
from addrl_graph.loader.link_loader import make_train_loader

__all__ = ['SampledGraph', 'TripletBatch', 'make_train_loader']
