//! Whole-graph checks: ids, start, edges, branching, dead ends and reachability. Every problem
//! is collected so the editor can show them all after a single save.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::fields::{self, Scope};
use super::model::{Edge, EdgeCondition, Node, NodeKind, NodeType, Route, VariableSource};
use super::{EdgeDoc, FlowContext, FlowErrors, FlowGraph, NodeDoc};

/// What the edge pass learned about one edge.
struct EdgeInfo {
    source: Option<usize>,
    target: Option<usize>,
    /// The condition, when it parsed and suits the source node.
    condition: Option<EdgeCondition>,
}

/// Error key of a node; nodes without an id are reported under the collection.
fn node_key(id: &str) -> String {
    if id.trim().is_empty() {
        "nodes".to_string()
    } else {
        format!("nodes.{id}")
    }
}

/// Error key of an edge; edges without an id are reported under the collection.
fn edge_key(id: &str) -> String {
    if id.trim().is_empty() {
        "edges".to_string()
    } else {
        format!("edges.{id}")
    }
}

/// `'a', 'b'` for listing ids in a message.
fn quoted<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    ids.into_iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The body of [`FlowGraph::parse`].
pub(super) fn parse(
    nodes: &[NodeDoc],
    edges: &[EdgeDoc],
    ctx: &dyn FlowContext,
) -> Result<FlowGraph, FlowErrors> {
    let mut errors = FlowErrors::default();
    let mut warnings = FlowErrors::default();
    let scope = Scope::from_docs(nodes);
    let mut reads: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Reads of one node or edge are noted one after the other, so comparing with the last
    // path recorded is enough to list each path once, in constant time.
    let mut note_read = |name: String, path: &str| {
        let paths = reads.entry(name).or_default();
        if paths.last().is_none_or(|p| p != path) {
            paths.push(path.to_string());
        }
    };

    // Node ids. Duplicates keep the first occurrence addressable; the rest are only reported.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut addressable = vec![false; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        if node.id.trim().is_empty() {
            errors.push("nodes", format!("node #{} has no id", i + 1));
        } else if let Some(&first) = index.get(&node.id) {
            errors.push(
                node_key(&node.id),
                format!(
                    "duplicate node id '{}' (nodes #{} and #{})",
                    node.id,
                    first + 1,
                    i + 1
                ),
            );
        } else {
            index.insert(node.id.clone(), i);
            addressable[i] = true;
        }
    }

    // Node data.
    let mut types: Vec<Option<NodeType>> = Vec::with_capacity(nodes.len());
    let mut kinds: Vec<Option<NodeKind>> = Vec::with_capacity(nodes.len());
    for node in nodes {
        let key = node_key(&node.id);
        let Some(node_type) = NodeType::parse(node.node_type.trim()) else {
            let all: Vec<&str> = NodeType::ALL.iter().map(|t| t.as_str()).collect();
            let message = if node.node_type.trim().is_empty() {
                format!("node '{}' has no type (one of {})", node.id, all.join(", "))
            } else {
                format!(
                    "unknown node type '{}' (expected one of {})",
                    node.node_type,
                    all.join(", ")
                )
            };
            errors.push(&key, message);
            types.push(None);
            kinds.push(None);
            continue;
        };
        let check = fields::check_node(node, node_type, &scope, ctx);
        for problem in check.problems {
            errors.push(&key, problem);
        }
        for warning in check.warnings {
            warnings.push(&key, warning);
        }
        for name in check.reads {
            note_read(name, &key);
        }
        types.push(Some(node_type));
        kinds.push(check.kind);
    }

    // Exactly one start.
    let starts: Vec<usize> = (0..nodes.len())
        .filter(|&i| types[i] == Some(NodeType::Start))
        .collect();
    let start = starts.first().copied();
    match starts.split_first() {
        None => errors.push(
            "nodes",
            "flow has no start node: add one where the call begins",
        ),
        Some((&first, extra)) => {
            for &i in extra {
                errors.push(
                    node_key(&nodes[i].id),
                    format!(
                        "start node '{}' is one too many: a flow has exactly one start (the first is '{}')",
                        nodes[i].id, nodes[first].id
                    ),
                );
            }
        }
    }

    // Edges one by one.
    let lookup = |id: &str| index.get(id).copied();
    let mut edge_ids: HashMap<&str, usize> = HashMap::new();
    let mut infos: Vec<EdgeInfo> = Vec::with_capacity(edges.len());
    let mut leaving: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (j, edge) in edges.iter().enumerate() {
        let key = edge_key(&edge.id);
        let name = if edge.id.trim().is_empty() {
            format!("edge #{}", j + 1)
        } else {
            format!("edge '{}'", edge.id)
        };
        if edge.id.trim().is_empty() {
            errors.push("edges", format!("edge #{} has no id", j + 1));
        } else if let Some(&first) = edge_ids.get(edge.id.as_str()) {
            errors.push(
                &key,
                format!(
                    "duplicate edge id '{}' (edges #{} and #{})",
                    edge.id,
                    first + 1,
                    j + 1
                ),
            );
        } else {
            edge_ids.insert(&edge.id, j);
        }

        let source = lookup(&edge.source);
        let target = lookup(&edge.target);
        if edge.source.trim().is_empty() {
            errors.push(&key, format!("{name} has no source node"));
        } else if source.is_none() {
            errors.push(
                &key,
                format!("{name} comes from unknown node '{}'", edge.source),
            );
        }
        if edge.target.trim().is_empty() {
            errors.push(&key, format!("{name} has no target node"));
        } else if target.is_none() {
            errors.push(
                &key,
                format!("{name} points to unknown node '{}'", edge.target),
            );
        }
        if let Some(t) = target
            && types[t] == Some(NodeType::Start)
        {
            errors.push(
                &key,
                format!(
                    "{name} points into the start node '{}': nothing may lead back to the start",
                    edge.target
                ),
            );
        }
        let source_type = source.and_then(|s| types[s]);
        if let Some(st) = source_type
            && st.is_terminal()
        {
            errors.push(
                &key,
                format!(
                    "{name} leaves {st} node '{}': end and transfer nodes finish the call",
                    edge.source
                ),
            );
        }

        let mut condition = match fields::parse_condition(edge.condition.as_ref()) {
            Ok(c) => Some(c),
            Err(message) => {
                errors.push(&key, message);
                None
            }
        };
        if let (Some(c), Some(st)) = (&condition, source_type) {
            let from = &edge.source;
            let misfit = match c {
                EdgeCondition::Always if st == NodeType::Condition => Some(format!(
                    "{name} leaves condition node '{from}' without a condition: give it one, or mark it \"default\""
                )),
                EdgeCondition::Default | EdgeCondition::Compare(_) | EdgeCondition::Intent(_)
                    if st != NodeType::Condition =>
                {
                    Some(format!(
                        "{name} has a condition but leaves {st} node '{from}': only condition nodes branch, so remove the condition or insert a condition node"
                    ))
                }
                EdgeCondition::OnInvalid if st != NodeType::Ask => Some(format!(
                    "{name} is an on-invalid edge but leaves {st} node '{from}': only ask nodes have one"
                )),
                _ => None,
            };
            if let Some(message) = misfit {
                errors.push(&key, message);
                condition = None;
            }
        }
        if let Some(c) = &condition {
            for var in fields::condition_reads(c) {
                if let Err(message) = scope.check(&var) {
                    warnings.push(&key, message);
                }
                note_read(var, &key);
            }
        }
        if let Some(s) = source {
            leaving[s].push(j);
        }
        infos.push(EdgeInfo {
            source,
            target,
            condition,
        });
    }

    // How each node is left.
    let mut routes: Vec<Option<Route>> = vec![None; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        let (Some(node_type), true) = (types[i], addressable[i]) else {
            continue;
        };
        let (key, id) = (node_key(&node.id), &node.id);
        if node_type.is_terminal() {
            routes[i] = Some(Route::Terminal);
            continue;
        }
        let out = &leaving[i];
        if out.is_empty() {
            errors.push(
                &key,
                format!("{node_type} node '{id}' has no outgoing edge, so the call would hang here: connect it to the next step or to an end node"),
            );
            continue;
        }
        let with = |wanted: fn(&EdgeCondition) -> bool| -> Vec<usize> {
            out.iter()
                .copied()
                .filter(|&j| infos[j].condition.as_ref().is_some_and(wanted))
                .collect()
        };
        let ids = |list: &[usize]| quoted(list.iter().map(|&j| edges[j].id.as_str()));
        let target = |j: usize| infos[j].target;
        let plain = with(|c| matches!(c, EdgeCondition::Always));
        match node_type {
            NodeType::Condition => {
                let defaults = with(|c| matches!(c, EdgeCondition::Default));
                let arms =
                    with(|c| matches!(c, EdgeCondition::Compare(_) | EdgeCondition::Intent(_)));
                match defaults.len() {
                    0 => errors.push(
                        &key,
                        format!("condition node '{id}' has no default edge: mark exactly one outgoing edge \"default\" for when nothing else matches"),
                    ),
                    1 => {}
                    n => errors.push(
                        &key,
                        format!("condition node '{id}' has {n} default edges ({}): keep exactly one", ids(&defaults)),
                    ),
                }
                let arm_targets: Option<Vec<(usize, usize)>> =
                    arms.iter().map(|&j| target(j).map(|t| (j, t))).collect();
                if let ([d], Some(arms)) = (defaults.as_slice(), arm_targets) {
                    routes[i] = target(*d).map(|default| Route::Branch { arms, default });
                }
            }
            NodeType::Ask => {
                let invalid = with(|c| matches!(c, EdgeCondition::OnInvalid));
                if plain.is_empty() && !invalid.is_empty() {
                    errors.push(
                        &key,
                        format!("ask node '{id}' has only an on-invalid edge: add the edge a valid answer follows, or the call would hang here"),
                    );
                }
                if plain.len() > 1 {
                    errors.push(
                        &key,
                        format!("ask node '{id}' has {} edges for a valid answer ({}): it can only continue one way; use a condition node to branch", plain.len(), ids(&plain)),
                    );
                }
                if invalid.len() > 1 {
                    errors.push(
                        &key,
                        format!(
                            "ask node '{id}' has {} on-invalid edges ({}): keep at most one",
                            invalid.len(),
                            ids(&invalid)
                        ),
                    );
                }
                if let ([ok], [] | [_]) = (plain.as_slice(), invalid.as_slice()) {
                    let invalid_target = invalid.first().map(|&j| target(j));
                    routes[i] = match (target(*ok), invalid_target) {
                        (Some(ok), None) => Some(Route::Ask { ok, invalid: None }),
                        (Some(ok), Some(Some(t))) => Some(Route::Ask {
                            ok,
                            invalid: Some(t),
                        }),
                        _ => None,
                    };
                }
            }
            _ => {
                if plain.len() > 1 {
                    errors.push(
                        &key,
                        format!("{node_type} node '{id}' has {} outgoing edges ({}): it can only continue one way; use a condition node to branch", plain.len(), ids(&plain)),
                    );
                }
                if let [only] = plain.as_slice() {
                    routes[i] = target(*only).map(Route::Next);
                }
            }
        }
    }

    if let Some(start) = start {
        let graph = Adjacency {
            leaving: &leaving,
            infos: &infos,
        };
        let reached = graph.reach(&[start], Direction::Forward);
        for (i, node) in nodes.iter().enumerate() {
            if !reached[i] && addressable[i] && types[i] != Some(NodeType::Start) {
                errors.push(
                    node_key(&node.id),
                    format!(
                        "node '{}' is unreachable: no path leads to it from the start node '{}'",
                        node.id, nodes[start].id
                    ),
                );
            }
        }
        check_endings(
            nodes,
            &types,
            &graph,
            &reached,
            start,
            &mut errors,
            &mut warnings,
        );
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let mut graph = build(
        nodes, edges, index, start, kinds, routes, infos, &scope, reads,
    )?;
    graph.warnings = warnings;
    Ok(graph)
}

/// Which way a reachability walk follows edges.
#[derive(Clone, Copy)]
enum Direction {
    /// From a node to the nodes it leads to.
    Forward,
    /// From a node to the nodes that lead to it.
    Backward,
}

/// The edges whose ends exist, for reachability walks.
struct Adjacency<'a> {
    leaving: &'a [Vec<usize>],
    infos: &'a [EdgeInfo],
}

impl Adjacency<'_> {
    /// Nodes reachable from `from` (included), breadth first with an explicit queue: linear
    /// in nodes and edges, and no recursion whatever the shape (chains, self-loops, cycles).
    fn reach(&self, from: &[usize], direction: Direction) -> Vec<bool> {
        let n = self.leaving.len();
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (s, out) in self.leaving.iter().enumerate() {
            for &j in out {
                if let Some(t) = self.infos[j].target {
                    match direction {
                        Direction::Forward => next[s].push(t),
                        Direction::Backward => next[t].push(s),
                    }
                }
            }
        }
        let mut reached = vec![false; n];
        let mut queue = VecDeque::new();
        for &i in from {
            if i < n && !reached[i] {
                reached[i] = true;
                queue.push_back(i);
            }
        }
        while let Some(i) = queue.pop_front() {
            for &t in &next[i] {
                if !reached[t] {
                    reached[t] = true;
                    queue.push_back(t);
                }
            }
        }
        reached
    }
}

/// Every call must be able to finish. A node from which no end or transfer node can be
/// reached traps the call: a 422, unless an llm node is still ahead (the caller can say an
/// end-call phrase there), which is only a warning.
fn check_endings(
    nodes: &[NodeDoc],
    types: &[Option<NodeType>],
    graph: &Adjacency<'_>,
    reached: &[bool],
    start: usize,
    errors: &mut FlowErrors,
    warnings: &mut FlowErrors,
) {
    let of_type = |wanted: fn(NodeType) -> bool| -> Vec<usize> {
        (0..nodes.len())
            .filter(|&i| types[i].is_some_and(wanted))
            .collect()
    };
    let finishes = graph.reach(&of_type(NodeType::is_terminal), Direction::Backward);
    let before_llm = graph.reach(&of_type(|t| t == NodeType::Llm), Direction::Backward);
    let start_id = &nodes[start].id;
    if !finishes[start] {
        if before_llm[start] {
            warnings.push(
                "nodes",
                format!("no end or transfer node can be reached from the start node '{start_id}': calls end only when the caller hangs up or says an end-call phrase to an llm node"),
            );
        } else {
            errors.push(
                "nodes",
                format!("no end or transfer node can be reached from the start node '{start_id}', so a call could never finish: connect the flow to an end node"),
            );
        }
        return;
    }
    for (i, node) in nodes.iter().enumerate() {
        // A dead end (no outgoing edge at all) is reported as such already.
        if !reached[i] || finishes[i] || graph.leaving[i].is_empty() {
            continue;
        }
        let (key, id) = (node_key(&node.id), &node.id);
        if before_llm[i] {
            warnings.push(
                key,
                format!("no end or transfer node can be reached from node '{id}': a call that gets here ends only when the caller hangs up or says an end-call phrase to an llm node"),
            );
        } else {
            errors.push(
                key,
                format!("no end or transfer node can be reached from node '{id}', so a call that gets here loops forever: give it a way to an end node"),
            );
        }
    }
}

/// Assembles the graph once no problem was found. Every `Option` is `Some` by then; should
/// that ever not hold, the flow is rejected rather than trusted.
#[allow(clippy::too_many_arguments)]
fn build(
    nodes: &[NodeDoc],
    edges: &[EdgeDoc],
    index: HashMap<String, usize>,
    start: Option<usize>,
    kinds: Vec<Option<NodeKind>>,
    routes: Vec<Option<Route>>,
    infos: Vec<EdgeInfo>,
    scope: &Scope,
    reads: BTreeMap<String, Vec<String>>,
) -> Result<FlowGraph, FlowErrors> {
    let incomplete = || {
        let mut errors = FlowErrors::default();
        errors.push(
            "nodes",
            "flow could not be checked completely; please report this",
        );
        errors
    };
    let parsed_nodes: Option<Vec<Node>> = nodes
        .iter()
        .zip(kinds)
        .map(|(doc, kind)| {
            kind.map(|kind| Node {
                id: doc.id.clone(),
                kind,
            })
        })
        .collect();
    let parsed_edges: Option<Vec<Edge>> = edges
        .iter()
        .zip(infos)
        .map(|(doc, info)| {
            info.source?;
            info.target?;
            info.condition.map(|condition| Edge {
                id: doc.id.clone(),
                source: doc.source.clone(),
                target: doc.target.clone(),
                condition,
            })
        })
        .collect();
    let routes: Option<Vec<Route>> = routes.into_iter().collect();
    let (Some(nodes), Some(edges), Some(routes), Some(start)) =
        (parsed_nodes, parsed_edges, routes, start)
    else {
        return Err(incomplete());
    };

    let mut variables: BTreeMap<String, VariableSource> = BTreeMap::new();
    for (name, set_by) in scope.set_variables() {
        variables.insert(
            name.clone(),
            VariableSource {
                name: name.clone(),
                origin: super::model::VariableOrigin::Flow {
                    set_by: set_by.clone(),
                },
                used_in: Vec::new(),
            },
        );
    }
    for (name, used_in) in reads {
        let origin = scope
            .origin(&name)
            .unwrap_or(super::model::VariableOrigin::Call);
        let source = variables
            .entry(name.clone())
            .or_insert_with(|| VariableSource {
                name,
                origin,
                used_in: Vec::new(),
            });
        source.used_in = used_in;
    }

    Ok(FlowGraph {
        nodes,
        index,
        start,
        edges,
        routes,
        variables: variables.into_values().collect(),
        warnings: FlowErrors::default(),
    })
}
