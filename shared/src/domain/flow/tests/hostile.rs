//! Hostile flows: size limits stated in the 422, linear-time checking, no recursion whose
//! depth a flow controls, and flows that could never finish.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{e, end, flow, invalid, n, say, start, tools, valid};
use crate::domain::flow::{EdgeDoc, FlowDoc, FlowGraph, MAX_NODES, MAX_TEXT_CHARS, NodeDoc, parse};

/// start → s1 → s2 → … → s<len> → end, as wire documents.
fn chain(len: usize) -> (Vec<NodeDoc>, Vec<EdgeDoc>) {
    let node = |id: String, node_type: &str, data: Value| NodeDoc {
        id,
        node_type: node_type.into(),
        data,
        position: None,
        extra: Default::default(),
    };
    let edge = |j: usize, source: String, target: String| EdgeDoc {
        id: format!("e{j}"),
        source,
        target,
        condition: None,
        extra: Default::default(),
    };
    let mut nodes = vec![node("start".into(), "start", Value::Null)];
    let mut edges = Vec::with_capacity(len + 1);
    let mut previous = "start".to_string();
    for i in 0..len {
        let id = format!("s{i}");
        nodes.push(node(id.clone(), "say", json!({"text": "hello {{today}}"})));
        edges.push(edge(i, previous, id.clone()));
        previous = id;
    }
    nodes.push(node("end".into(), "end", json!({})));
    edges.push(edge(len, previous, "end".into()));
    (nodes, edges)
}

/// Runs `f` on a thread with a 256 KiB stack: recursion as deep as the flow is long
/// overflows it (aborting the test binary), an iterative walk does not.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("no panic or stack overflow")
}

#[test]
fn a_flow_over_the_node_limit_is_refused_quickly_with_the_limit() {
    let (nodes, edges) = chain(50_000);
    let started = Instant::now();
    let errors = FlowGraph::parse(&nodes, &edges, &tools).unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        errors.messages_for("nodes"),
        vec![format!(
            "a flow has at most {MAX_NODES} nodes; this one has 50002"
        )]
    );
    assert_eq!(
        errors.messages_for("edges"),
        vec!["a flow has at most 3000 edges; this one has 50001"]
    );
    assert_eq!(errors.len(), 2, "only the size is reported");
    assert!(took < Duration::from_millis(500), "took {took:?}");
}

#[test]
fn checking_is_linear_in_the_size_of_the_flow() {
    // The largest flow accepted, every node a problem (unknown variable reads are warnings,
    // so make each node bad instead): this was quadratic in the number of problems.
    let nodes: Vec<Value> = std::iter::once(start())
        .chain((0..MAX_NODES - 1).map(|i| n(&format!("s{i}"), "say", json!({}))))
        .collect();
    let started = Instant::now();
    let errors = invalid(nodes, vec![]);
    let took = started.elapsed();
    assert!(errors.len() >= MAX_NODES - 1);
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[test]
fn a_100_000_node_chain_is_checked_without_recursion() {
    let (graph, took) = on_small_stack(|| {
        let (nodes, edges) = chain(100_000);
        let started = Instant::now();
        // The parser behind the size limits: proves the walks themselves are iterative.
        let graph = parse::parse(&nodes, &edges, &tools).map(|g| g.nodes().len());
        (graph, started.elapsed())
    });
    assert_eq!(graph.unwrap(), 100_002);
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn cycles_and_self_loops_are_checked_on_a_small_stack() {
    let errors = on_small_stack(|| {
        let nodes = vec![start(), say("a"), say("b"), say("c")];
        let edges = vec![
            e("e1", "start", "a"),
            e("e2", "a", "b"),
            e("e3", "b", "c"),
            e("e4", "c", "a"),
        ];
        flow(nodes, edges).unwrap_err()
    });
    assert!(
        errors.messages_for("nodes")[0].starts_with(
            "no end or transfer node can be reached from the start node 'start', so a call could never finish"
        ),
        "{:?}",
        errors.fields()
    );
}

#[test]
fn a_flow_whose_only_way_on_is_a_self_loop_is_refused() {
    let errors = invalid(
        vec![start(), say("a")],
        vec![e("e1", "start", "a"), e("e2", "a", "a")],
    );
    assert_eq!(
        errors.messages_for("nodes"),
        vec![
            "no end or transfer node can be reached from the start node 'start', so a call could never finish: connect the flow to an end node"
        ]
    );
}

#[test]
fn a_loop_that_can_never_leave_is_refused_even_when_an_end_exists() {
    let errors = invalid(
        vec![
            start(),
            n("c", "condition", json!({})),
            say("trap"),
            end("z"),
        ],
        vec![
            e("e1", "start", "c"),
            super::ec(
                "e2",
                "c",
                "trap",
                json!({"variable": "today", "op": "exists"}),
            ),
            super::ec("e3", "c", "z", json!("default")),
            e("e4", "trap", "trap"),
        ],
    );
    assert_eq!(
        errors.messages_for("nodes.trap"),
        vec![
            "no end or transfer node can be reached from node 'trap', so a call that gets here loops forever: give it a way to an end node"
        ]
    );
}

#[test]
fn an_llm_loop_without_an_end_is_only_a_warning() {
    let graph = valid(
        vec![
            start(),
            n(
                "chat",
                "llm",
                json!({"prompt": "Chat.", "exit_condition": "Never."}),
            ),
        ],
        vec![e("e1", "start", "chat"), e("e2", "chat", "chat")],
    );
    let warnings: Vec<&str> = graph
        .warnings()
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(
        warnings,
        vec![
            "no end or transfer node can be reached from the start node 'start': calls end only when the caller hangs up or says an end-call phrase to an llm node"
        ]
    );
}

#[test]
fn text_ids_and_nesting_are_bounded_with_the_limit_in_the_message() {
    let long = "x".repeat(MAX_TEXT_CHARS + 1);
    let mut deep = json!("{{today}}");
    for _ in 0..20 {
        deep = json!({ "a": deep });
    }
    let errors = invalid(
        vec![
            start(),
            n("long", "say", json!({ "text": long })),
            n(
                "deep",
                "tool",
                json!({"tool_id": "crm_lookup", "args": {"q": deep}}),
            ),
            n(&"i".repeat(200), "say", json!({"text": "hi"})),
            end("z"),
        ],
        vec![],
    );
    assert_eq!(
        errors.messages_for("nodes.long"),
        vec![format!(
            "data holds a text of {} characters; at most {MAX_TEXT_CHARS} per field",
            MAX_TEXT_CHARS + 1
        )]
    );
    assert_eq!(
        errors.messages_for("nodes.deep"),
        vec!["data is nested too deeply (at most 16 levels)"]
    );
    assert_eq!(
        errors.messages_for("nodes"),
        vec!["the id of node #4 is longer than 128 characters"]
    );
}

#[test]
fn the_whole_document_name_and_description_are_bounded() {
    let doc = FlowDoc {
        name: "n".repeat(201),
        description: Some("d".repeat(5_001)),
        nodes: (0..100)
            .map(|i| NodeDoc {
                id: format!("s{i}"),
                node_type: "say".into(),
                data: json!({"text": "t".repeat(MAX_TEXT_CHARS)}),
                position: None,
                extra: Default::default(),
            })
            .collect(),
        edges: vec![],
    };
    let errors = doc.check_limits().unwrap_err();
    assert_eq!(
        errors.messages_for("name"),
        vec!["name is longer than 200 characters"]
    );
    assert_eq!(
        errors.messages_for("description"),
        vec!["description is longer than 5000 characters"]
    );
    assert!(
        errors.messages_for("nodes")[0].starts_with("the flow holds 2000"),
        "{:?}",
        errors.fields()
    );
}

#[test]
fn ten_thousand_open_braces_and_nesting_are_checked_in_linear_time() {
    for text in [
        "{{".repeat(10_000),
        "{{".repeat(5_000) + &"}}".repeat(5_000),
        "{{{{{{a}}}}}}".repeat(1_000),
        "{{a}}".repeat(3_000) + &"{".repeat(5_000),
    ] {
        let started = Instant::now();
        let (nodes, edges) = super::around("say", json!({ "text": text }));
        let _ = flow(nodes, edges);
        let took = started.elapsed();
        assert!(took < Duration::from_millis(500), "took {took:?}");
    }
}
