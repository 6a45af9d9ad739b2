//! Choosing what the map shows: the vantage points, the routers that carry the most traces or
//! end the most tampering segments (a cap per TTL column and in all), the largest server
//! networks; everything else collapsed into one "+N more" node per column, edges merged
//! accordingly and the thinnest dropped beyond a cap.
use super::graph::{NodeKey, PathGraph};
use super::MapOptions;
use std::collections::{BTreeMap, HashMap};

/// What a drawn node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViewKind {
    Vantage {
        name: String,
    },
    Router {
        addr: String,
    },
    Servers {
        asn: Option<u32>,
    },
    /// Routers collapsed into one node (count of them).
    MoreRouters {
        hidden: usize,
    },
    MoreServers {
        hidden: usize,
    },
    MoreVantages {
        hidden: usize,
    },
}

#[derive(Clone, Debug)]
pub struct ViewNode {
    pub kind: ViewKind,
    /// TTL column (0: vantage points; servers get the last column at layout).
    pub layer: u32,
    pub asn: Option<u32>,
    pub traversals: usize,
    pub strip_end: usize,
    pub strip_start: usize,
    pub end_verdicts: BTreeMap<String, usize>,
    /// Lowest and highest TTL seen.
    pub ttl_range: Option<(u32, u32)>,
    pub vantages: usize,
    /// Rank for ordering within a column (higher first).
    pub rank: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewEdge {
    pub from: usize,
    pub to: usize,
    pub count: usize,
}

#[derive(Clone, Debug)]
pub struct ViewStrip {
    pub from: usize,
    pub to: usize,
    pub count: usize,
    pub verdicts: BTreeMap<String, usize>,
}

/// The map's content, before layout.
#[derive(Clone, Debug, Default)]
pub struct MapView {
    pub nodes: Vec<ViewNode>,
    pub edges: Vec<ViewEdge>,
    pub strips: Vec<ViewStrip>,
    pub routers_total: usize,
    pub routers_hidden: usize,
    pub servers_total: usize,
    pub servers_hidden: usize,
    pub edges_total: usize,
    pub edges_hidden: usize,
    /// Tampering segments (node pairs) not drawn, and the records they stand for.
    pub strips_hidden: usize,
    pub strip_records_hidden: usize,
    /// Tampering segments whose two ends fell into the same collapsed node.
    pub strips_inside_collapsed: usize,
    pub traced: usize,
}

/// Where a node of the graph went.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Slot {
    Shown(usize),
    MoreRouters(u32),
    MoreServers,
    MoreVantages,
}

fn rank(traversals: usize, strip_end: usize, strip_start: usize) -> usize {
    traversals
        .saturating_add(strip_end.saturating_mul(50))
        .saturating_add(strip_start.saturating_mul(10))
}

pub fn select(g: &PathGraph, opts: &MapOptions) -> MapView {
    let mut vantages = Vec::new();
    let mut routers = Vec::new();
    let mut servers = Vec::new();
    for (i, n) in g.nodes.iter().enumerate() {
        match &n.key {
            NodeKey::Vantage(_) => vantages.push(i),
            NodeKey::Router(_) => routers.push(i),
            NodeKey::Servers(_) => servers.push(i),
        }
    }
    let node_rank = |i: usize| {
        g.nodes
            .get(i)
            .map_or(0, |n| rank(n.traversals, n.strip_end, n.strip_start))
    };
    let key = |i: usize| g.nodes.get(i).map(|n| &n.key);
    let by_rank = |a: &usize, b: &usize| {
        node_rank(*b)
            .cmp(&node_rank(*a))
            .then(key(*a).cmp(&key(*b)))
    };
    vantages.sort_by(|a, b| key(*a).cmp(&key(*b)));
    routers.sort_by(by_rank);
    servers.sort_by(by_rank);

    let mut slot: HashMap<usize, Slot> = HashMap::new();
    let mut shown: Vec<usize> = Vec::new();
    for (k, &i) in vantages.iter().enumerate() {
        if k < opts.max_vantages {
            slot.insert(i, Slot::Shown(shown.len()));
            shown.push(i);
        } else {
            slot.insert(i, Slot::MoreVantages);
        }
    }
    // Routers: first those ending the most segments (a third of the room), then by rank.
    let layer_of = |i: usize| {
        g.nodes
            .get(i)
            .and_then(|n| n.usual_ttl())
            .unwrap_or(1)
            .max(1)
    };
    let mut per_layer: HashMap<u32, usize> = HashMap::new();
    let mut by_strips: Vec<usize> = routers
        .iter()
        .copied()
        .filter(|&i| g.nodes.get(i).is_some_and(|n| n.strip_end > 0))
        .collect();
    by_strips.sort_by(|a, b| {
        let s = |i: usize| g.nodes.get(i).map_or(0, |n| n.strip_end);
        s(*b).cmp(&s(*a)).then(key(*a).cmp(&key(*b)))
    });
    let mut routers_shown = 0;
    let strip_room = opts.max_routers / 3;
    for (pass, list) in [by_strips.as_slice(), routers.as_slice()]
        .into_iter()
        .enumerate()
    {
        for &i in list {
            if slot.contains_key(&i) {
                continue;
            }
            if routers_shown >= opts.max_routers || (pass == 0 && routers_shown >= strip_room) {
                break;
            }
            let layer = layer_of(i);
            let used = per_layer.entry(layer).or_default();
            if *used < opts.max_per_column {
                *used += 1;
                routers_shown += 1;
                slot.insert(i, Slot::Shown(shown.len()));
                shown.push(i);
            }
        }
    }
    for &i in &routers {
        slot.entry(i).or_insert(Slot::MoreRouters(layer_of(i)));
    }
    for (k, &i) in servers.iter().enumerate() {
        if k < opts.max_server_groups {
            slot.insert(i, Slot::Shown(shown.len()));
            shown.push(i);
        } else {
            slot.insert(i, Slot::MoreServers);
        }
    }

    let mut nodes: Vec<ViewNode> = shown
        .iter()
        .filter_map(|&i| g.nodes.get(i))
        .map(|n| {
            let (kind, layer) = match &n.key {
                NodeKey::Vantage(name) => (ViewKind::Vantage { name: name.clone() }, 0),
                NodeKey::Router(addr) => (
                    ViewKind::Router { addr: addr.clone() },
                    n.usual_ttl().unwrap_or(1).max(1),
                ),
                NodeKey::Servers(asn) => (ViewKind::Servers { asn: *asn }, u32::MAX),
            };
            ViewNode {
                kind,
                layer,
                asn: n.asn(),
                traversals: n.traversals,
                strip_end: n.strip_end,
                strip_start: n.strip_start,
                end_verdicts: n.end_verdicts.clone(),
                ttl_range: n
                    .ttls
                    .keys()
                    .next()
                    .zip(n.ttls.keys().next_back())
                    .map(|(a, b)| (*a, *b)),
                vantages: n.vantages.len(),
                rank: rank(n.traversals, n.strip_end, n.strip_start),
            }
        })
        .collect();

    // One collapsed node per slot that received hidden nodes.
    let mut collapsed: BTreeMap<Slot, usize> = BTreeMap::new();
    let mut hidden_of: BTreeMap<Slot, Vec<usize>> = BTreeMap::new();
    for (&i, &s) in &slot {
        if !matches!(s, Slot::Shown(_)) {
            hidden_of.entry(s).or_default().push(i);
        }
    }
    for (s, members) in &hidden_of {
        let mut node = ViewNode {
            kind: match s {
                Slot::MoreRouters(_) => ViewKind::MoreRouters {
                    hidden: members.len(),
                },
                Slot::MoreServers => ViewKind::MoreServers {
                    hidden: members.len(),
                },
                _ => ViewKind::MoreVantages {
                    hidden: members.len(),
                },
            },
            layer: match s {
                Slot::MoreRouters(l) => *l,
                Slot::MoreServers => u32::MAX,
                _ => 0,
            },
            asn: None,
            traversals: 0,
            strip_end: 0,
            strip_start: 0,
            end_verdicts: BTreeMap::new(),
            ttl_range: None,
            vantages: 0,
            rank: 0,
        };
        for n in members.iter().filter_map(|&i| g.nodes.get(i)) {
            node.traversals += n.traversals;
            node.strip_end += n.strip_end;
            node.strip_start += n.strip_start;
            for (v, c) in &n.end_verdicts {
                *node.end_verdicts.entry(v.clone()).or_default() += c;
            }
        }
        collapsed.insert(*s, nodes.len());
        nodes.push(node);
    }
    let place = |i: usize| match slot.get(&i) {
        Some(Slot::Shown(k)) => Some(*k),
        Some(s) => collapsed.get(s).copied(),
        None => None,
    };

    let mut edge_counts: HashMap<(usize, usize), usize> = HashMap::new();
    for (&(a, b), &c) in &g.edges {
        if let (Some(x), Some(y)) = (place(a), place(b)) {
            if x != y {
                *edge_counts.entry((x, y)).or_default() += c;
            }
        }
    }
    let mut edges: Vec<ViewEdge> = edge_counts
        .into_iter()
        .map(|((from, to), count)| ViewEdge { from, to, count })
        .collect();
    edges.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then((a.from, a.to).cmp(&(b.from, b.to)))
    });
    let edges_total = edges.len();
    edges.truncate(opts.max_edges);

    let mut strip_map: HashMap<(usize, usize), ViewStrip> = HashMap::new();
    let mut strips_inside_collapsed = 0;
    for (&(a, b), s) in &g.strips {
        let (Some(x), Some(y)) = (place(a), place(b)) else {
            continue;
        };
        if x == y {
            strips_inside_collapsed += s.count;
            continue;
        }
        let e = strip_map.entry((x, y)).or_insert_with(|| ViewStrip {
            from: x,
            to: y,
            count: 0,
            verdicts: BTreeMap::new(),
        });
        e.count += s.count;
        for (v, c) in &s.verdicts {
            *e.verdicts.entry(v.clone()).or_default() += c;
        }
    }
    let mut strips: Vec<ViewStrip> = strip_map.into_values().collect();
    strips.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then((a.from, a.to).cmp(&(b.from, b.to)))
    });
    let strips_hidden = strips.len().saturating_sub(opts.max_segments);
    let strip_records_hidden = strips.iter().skip(opts.max_segments).map(|s| s.count).sum();
    strips.truncate(opts.max_segments);

    MapView {
        nodes,
        edges,
        strips,
        routers_total: routers.len(),
        routers_hidden: routers.len() - routers_shown,
        servers_total: servers.len(),
        servers_hidden: servers.len().saturating_sub(opts.max_server_groups),
        edges_total,
        edges_hidden: edges_total.saturating_sub(opts.max_edges),
        strips_hidden,
        strip_records_hidden,
        strips_inside_collapsed,
        traced: g.traced,
    }
}
