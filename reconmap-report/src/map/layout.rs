//! A deterministic layered layout: one column per TTL (vantage points first, server networks
//! last), nodes ordered within a column by the barycentre of their neighbours in the columns
//! before and after (a few sweeps), columns centred vertically.
use super::select::{MapView, ViewKind};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Pixel geometry of the map.
pub const COLUMN_TOP: f64 = 48.0;
pub const ROW_HEIGHT: f64 = 66.0;
pub const MARGIN_X: f64 = 75.0;
/// Width the layout aims at (columns closer together, down to `MIN_DX`, to fit it).
const TARGET_WIDTH: f64 = 1420.0;
const MIN_DX: f64 = 118.0;
const MAX_DX: f64 = 170.0;

#[derive(Clone, Debug)]
pub struct Column {
    pub x: f64,
    pub heading: String,
}

#[derive(Clone, Debug)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    /// Centre of each node of the view.
    pub pos: Vec<(f64, f64)>,
    pub columns: Vec<Column>,
}

pub fn layout(view: &MapView) -> Layout {
    // Columns: the distinct layers in order, the servers' `u32::MAX` last.
    let layers: Vec<u32> = view
        .nodes
        .iter()
        .map(|n| n.layer)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let column_of = |layer: u32| layers.iter().position(|&l| l == layer).unwrap_or(0);
    let mut cols: Vec<Vec<usize>> = vec![Vec::new(); layers.len()];
    let mut order: Vec<usize> = (0..view.nodes.len()).collect();
    // Initial order: rank (collapsed nodes last), then kind and key for determinism.
    order.sort_by(|&a, &b| {
        let (na, nb) = (view.nodes.get(a), view.nodes.get(b));
        let collapsed = |n: Option<&super::select::ViewNode>| {
            n.is_some_and(|n| {
                matches!(
                    n.kind,
                    ViewKind::MoreRouters { .. }
                        | ViewKind::MoreServers { .. }
                        | ViewKind::MoreVantages { .. }
                )
            })
        };
        collapsed(na)
            .cmp(&collapsed(nb))
            .then_with(|| nb.map(|n| n.rank).cmp(&na.map(|n| n.rank)))
            .then(a.cmp(&b))
    });
    let mut col_index = vec![0usize; view.nodes.len()];
    for i in order {
        let c = column_of(view.nodes.get(i).map_or(0, |n| n.layer));
        if let Some(col) = cols.get_mut(c) {
            col.push(i);
        }
        if let Some(ci) = col_index.get_mut(i) {
            *ci = c;
        }
    }
    // Vantage points keep their alphabetical order (they were added so).
    if let Some(first) = cols.first_mut() {
        first.sort_unstable();
    }

    // Neighbour lists with weights (trace edges and tampering segments).
    let mut neighbours: Vec<Vec<(usize, f64)>> = vec![Vec::new(); view.nodes.len()];
    let links = view
        .edges
        .iter()
        .map(|e| (e.from, e.to, e.count))
        .chain(view.strips.iter().map(|s| (s.from, s.to, s.count)));
    for (a, b, c) in links {
        // Counts stay far below 2^52.
        let w = (c as f64).ln_1p();
        if let Some(n) = neighbours.get_mut(a) {
            n.push((b, w));
        }
        if let Some(n) = neighbours.get_mut(b) {
            n.push((a, w));
        }
    }

    let mut y_of = vec![0.0f64; view.nodes.len()];
    let place = |cols: &Vec<Vec<usize>>, y_of: &mut Vec<f64>| {
        for col in cols {
            let half = (col.len() as f64 - 1.0) / 2.0;
            for (k, &i) in col.iter().enumerate() {
                if let Some(y) = y_of.get_mut(i) {
                    *y = k as f64 - half;
                }
            }
        }
    };
    place(&cols, &mut y_of);
    let ncols = cols.len();
    for sweep in 0..6 {
        let forward = sweep % 2 == 0;
        let seq: Vec<usize> = if forward {
            (1..ncols).collect()
        } else {
            (0..ncols.saturating_sub(1)).rev().collect()
        };
        for c in seq {
            let Some(col) = cols.get(c) else { continue };
            let mut keyed: Vec<(f64, usize, usize)> = col
                .iter()
                .enumerate()
                .map(|(k, &i)| {
                    let (mut sum, mut wsum) = (0.0, 0.0);
                    for &(j, w) in neighbours.get(i).map_or(&[][..], |v| v.as_slice()) {
                        let cj = col_index.get(j).copied().unwrap_or(c);
                        let side_ok = if forward { cj < c } else { cj > c };
                        if side_ok {
                            sum += w * y_of.get(j).copied().unwrap_or(0.0);
                            wsum += w;
                        }
                    }
                    let current = y_of.get(i).copied().unwrap_or(0.0);
                    let bary = if wsum > 0.0 { sum / wsum } else { current };
                    (bary, k, i)
                })
                .collect();
            keyed.sort_by(|a, b| {
                a.0.partial_cmp(&b.0)
                    .unwrap_or(Ordering::Equal)
                    .then(a.1.cmp(&b.1))
            });
            // Vantage points stay in name order.
            if c == 0 {
                continue;
            }
            if let Some(col) = cols.get_mut(c) {
                *col = keyed.into_iter().map(|(_, _, i)| i).collect();
            }
            place(&cols, &mut y_of);
        }
    }

    let max_rows = cols.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let dx = if ncols > 1 {
        ((TARGET_WIDTH - 2.0 * MARGIN_X) / (ncols as f64 - 1.0)).clamp(MIN_DX, MAX_DX)
    } else {
        150.0
    };
    let height = COLUMN_TOP + max_rows as f64 * ROW_HEIGHT + 10.0;
    let width = MARGIN_X * 2.0 + dx * (ncols.max(1) as f64 - 1.0);
    let mut pos = vec![(0.0, 0.0); view.nodes.len()];
    let mut columns = Vec::with_capacity(ncols);
    for (c, col) in cols.iter().enumerate() {
        let x = MARGIN_X + dx * c as f64;
        let offset = (max_rows - col.len()) as f64 * ROW_HEIGHT / 2.0;
        for (k, &i) in col.iter().enumerate() {
            if let Some(p) = pos.get_mut(i) {
                *p = (
                    x,
                    COLUMN_TOP + offset + (k as f64 + 0.5) * ROW_HEIGHT - 14.0,
                );
            }
        }
        let layer = layers.get(c).copied().unwrap_or(0);
        let heading = match layer {
            0 => "vantage points".to_string(),
            u32::MAX => "mail servers".to_string(),
            t => format!("TTL {t}"),
        };
        columns.push(Column { x, heading });
    }
    Layout {
        width,
        height,
        pos,
        columns,
    }
}
