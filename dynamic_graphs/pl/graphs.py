from ..drawing import draw_graph, embed_gif, graph_animation, plot_layer_graphs  # noqa: F401
