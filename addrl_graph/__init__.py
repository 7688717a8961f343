"""AD-DRL (attribute-driven disentangled multimodal recommendation) on PyTorch Geometric."""
from addrl_graph.data.schema import load_graph, save_graph, validate_graph
from addrl_graph.errors import AddrlError, CheckpointError, ConfigError, GraphSchemaError

__version__ = '0.1.0'
__all__ = ['load_graph', 'save_graph', 'validate_graph', 'AddrlError', 'CheckpointError',
           'ConfigError', 'GraphSchemaError']
