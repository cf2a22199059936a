from ..drawing import layer_graph_table, layer_graphs  # noqa: F401
