"""Amazon review dumps → the processed AD-DRL graph (``graph.pt`` + ``meta.json``).

Along the data flow: :mod:`~data_builders.readers` (dump lines → records),
:mod:`~data_builders.clean` (duplicates, k-core), :mod:`~data_builders.split` (train /
validation / test), :mod:`~data_builders.attributes` (attribute values),
:mod:`~data_builders.features` (text and image features), then
:func:`addrl_graph.data.assemble.assemble_graph` and :mod:`~data_builders.summary`;
:mod:`~data_builders.build` runs the stages in order. :mod:`~data_builders.synthetic` writes
dumps with planted preferences to build from.
"""
