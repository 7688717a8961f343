"""Table-1 style statistics of a built graph and their text rendering."""
from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
from torch_geometric.data import HeteroData

from addrl_graph.data.schema import INTERACTS, TEST, TRAIN, VALID
from data_builders.readers.records import DUPLICATE_ITEM


def graph_statistics(data: HeteroData, attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts, sparsity, degrees, connected components, values per attribute, feature dims."""
    num_users, num_items = data['user'].num_nodes, data['item'].num_nodes
    edge_index = data[INTERACTS].edge_index.numpy()
    split = data[INTERACTS].split.numpy()
    user_deg = np.bincount(edge_index[0], minlength=num_users)
    item_deg = np.bincount(edge_index[1], minlength=num_items)
    bipartite = nx.Graph()
    bipartite.add_nodes_from(range(num_users + num_items))
    bipartite.add_edges_from(zip(edge_index[0].tolist(), (edge_index[1] + num_users).tolist()))
    components = [len(c) for c in nx.connected_components(bipartite)]
    item = data['item']
    return {
        'users': num_users,
        'items': num_items,
        'interactions': int(edge_index.shape[1]),
        'sparsity': 1.0 - edge_index.shape[1] / max(1, num_users * num_items),
        'train': int((split == TRAIN).sum()),
        'valid': int((split == VALID).sum()),
        'test': int((split == TEST).sum()),
        'user_degree': {'min': int(user_deg.min()), 'median': float(np.median(user_deg)),
                        'max': int(user_deg.max())},
        'item_degree': {'min': int(item_deg.min()), 'median': float(np.median(item_deg)),
                        'max': int(item_deg.max())},
        'connected_components': len(components),
        'largest_component': max(components),
        'values_per_attribute': {a['name']: len(a['values']) for a in attributes},
        'text_dim': int(item.x_text.size(1)),
        'image_dim': int(item.x_image.size(1)),
        'items_with_text': int(item.has_text.sum()),
        'items_with_image': int(item.has_image.sum()),
    }


def format_summary(meta: dict[str, Any]) -> str:
    """The summary a build prints: one Table-1 row, then details and seconds per stage."""
    s = meta['stats']
    attrs = s['values_per_attribute']
    head = ['#user', '#item', '#interaction', 'sparsity'] + [f'#{a}' for a in attrs]
    row = [f"{s['users']:,}", f"{s['items']:,}", f"{s['interactions']:,}",
           f"{100 * s['sparsity']:.2f}%"] + [f'{n:,}' for n in attrs.values()]
    widths = [max(len(h), len(r)) for h, r in zip(head, row)]
    lines = ['  '.join(h.rjust(w) for h, w in zip(head, widths)),
             '  '.join(r.rjust(w) for r, w in zip(row, widths)), '']
    lines.append(f"split {meta['split']['protocol']} (seed {meta['split']['seed']}): "
                 f"train {s['train']:,}  valid {s['valid']:,}  test {s['test']:,}")
    lines.append(f"degrees: users {s['user_degree']}  items {s['item_degree']}")
    lines.append(f"connected components: {s['connected_components']} "
                 f"(largest {s['largest_component']:,} nodes)")
    lines.append(f"text: {meta['text_encoder']['name']} dim {s['text_dim']} "
                 f"({s['items_with_text']:,} items)   image: {meta['image_encoder']['name']} "
                 f"dim {s['image_dim']} ({s['items_with_image']:,} items)")
    for key in ('text_encoder', 'image_encoder'):
        if meta[key].get('filled_rows'):
            lines.append(f"{key.split('_')[0]}: {meta[key]['filled_rows']:,} zero or mean-filled "
                         f"rows of {meta[key]['name'].split(':')[-1]} recorded as missing")
    if meta.get('dropped_attributes'):
        lines.append(f"dropped (single value): {', '.join(meta['dropped_attributes'])}")
    lines.append(f"duplicates dropped: {meta.get('duplicates_dropped', 0):,}")
    for source in meta['sources']:
        read = source['read']
        rule = (f' ({DUPLICATE_ITEM}: the first line of each item is used)'
                if DUPLICATE_ITEM in read['skipped'] else '')
        lines.append(f"{source['path']}: {read['lines']:,} lines, {read['kept']:,} kept, "
                     f"skipped {read['skipped'] or 'none'}{rule}")
    stages = meta.get('stage_seconds', {})
    lines.append('seconds: ' + '  '.join(f'{k} {v:.2f}' for k, v in stages.items()))
    return '\n'.join(lines)
