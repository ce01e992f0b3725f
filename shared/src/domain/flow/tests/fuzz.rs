//! Property tests over what a client can send: random JSON shapes, random graphs and
//! random templates never panic, and are checked in bounded time. Case counts stay small
//! so the suite runs in seconds in a debug build.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::tools;
use crate::domain::flow::{
    EdgeDoc, FlowDoc, FlowGraph, NodeDoc, TurnInput, Variables, render, template_variables,
    whole_placeholder,
};

/// Keys the checker reads, so random objects hit real code paths, plus noise.
const KEYS: &[&str] = &[
    "id",
    "type",
    "data",
    "source",
    "target",
    "condition",
    "text",
    "question",
    "variable",
    "validation",
    "options",
    "pattern",
    "retries",
    "prompt",
    "exit_condition",
    "tool_id",
    "args",
    "save_as",
    "query_template",
    "number",
    "op",
    "value",
    "default",
    "on",
    "intent",
    "x",
];
const TYPES: &[&str] = &[
    "start",
    "say",
    "ask",
    "llm",
    "condition",
    "tool",
    "knowledge",
    "send_dtmf",
    "transfer",
    "end",
    "",
    "sms",
];
const FRAGMENTS: &[&str] = &[
    "{{",
    "}}",
    "{",
    "}",
    "name",
    "context.x",
    "contact.name",
    "today",
    ".",
    " ",
    "é",
    "a.b.0",
    "{{name}}",
    "{{ bad name }}",
    "+14155550100",
    "yes",
    "42",
    "invalid",
    "default",
    "crm_lookup",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..8).prop_map(|parts| parts.concat())
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => text(),
    ]
}

/// Any JSON value, a few levels deep, biased towards the keys and words flows use.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A flow body whose nodes and edges are random but shaped like the editor's.
fn flow_body() -> impl Strategy<Value = Value> {
    let ids = || prop::sample::select(&["start", "a", "b", "c", "d", "end", ""][..]);
    let node = (ids(), prop::sample::select(TYPES), json_value())
        .prop_map(|(id, t, data)| json!({"id": id, "type": t, "data": data}));
    let edge = (ids(), ids(), ids(), prop::option::of(json_value())).prop_map(
        |(id, s, t, c)| json!({"id": format!("e{id}"), "source": s, "target": t, "condition": c}),
    );
    (
        text(),
        prop::collection::vec(node, 0..10),
        prop::collection::vec(edge, 0..14),
    )
        .prop_map(|(name, nodes, edges)| json!({"name": name, "nodes": nodes, "edges": edges}))
}

/// A random but mostly well-formed graph: `n` nodes with sensible data for their type,
/// edges between random nodes with random conditions.
fn random_graph() -> impl Strategy<Value = (Vec<Value>, Vec<Value>)> {
    let data_for = |t: &str| match t {
        "say" | "end" => json!({"text": "Hi {{name}}"}),
        "ask" => json!({"question": "Age?", "variable": "age", "validation": "number"}),
        "llm" => json!({"prompt": "Chat", "exit_condition": "done"}),
        "tool" => json!({"tool_id": "crm_lookup", "save_as": "crm"}),
        "knowledge" => json!({"query_template": "{{age}}"}),
        "transfer" => json!({"number": "+14155550100"}),
        "send_dtmf" => json!({"digits": "1w{{age}}#"}),
        _ => json!({}),
    };
    let types = prop::collection::vec(prop::sample::select(&TYPES[1..10]), 1..12);
    let conditions = prop::sample::select(vec![
        Value::Null,
        json!("default"),
        json!({"on": "invalid"}),
        json!({"intent": ["billing"]}),
        json!({"variable": "age", "op": "gt", "value": 17}),
        json!({"variable": "crm.vip", "op": "exists"}),
    ]);
    (
        types,
        prop::collection::vec((0usize..13, 0usize..13, conditions), 0..24),
    )
        .prop_map(move |(types, raw_edges)| {
            let mut nodes = vec![json!({"id": "n0", "type": "start"})];
            for (i, t) in types.iter().enumerate() {
                nodes.push(json!({"id": format!("n{}", i + 1), "type": t, "data": data_for(t)}));
            }
            let n = nodes.len();
            let edges = raw_edges
                .into_iter()
                .enumerate()
                .map(|(j, (s, t, c))| {
                    json!({"id": format!("e{j}"), "source": format!("n{}", s % n),
                        "target": format!("n{}", t % n), "condition": c})
                })
                .collect();
            (nodes, edges)
        })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_json_body_is_checked_without_panicking(body in prop_oneof![json_value(), flow_body()]) {
        let started = Instant::now();
        if let Ok(doc) = serde_json::from_value::<FlowDoc>(body) {
            let _ = doc.graph(&tools);
        }
        prop_assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn random_graphs_are_checked_and_walked_without_panicking((nodes, edges) in random_graph(),
        answers in prop::collection::vec(text(), 1..6)) {
        let nodes: Vec<NodeDoc> = serde_json::from_value(Value::Array(nodes)).expect("nodes");
        let edges: Vec<EdgeDoc> = serde_json::from_value(Value::Array(edges)).expect("edges");
        let Ok(graph) = FlowGraph::parse(&nodes, &edges, &tools) else {
            return Ok(());
        };
        // A bounded walk: loops are allowed in flows, so stop after a fixed number of steps.
        let mut vars = Variables::new().with("today", "2026-01-01");
        let mut at = graph.start().id.clone();
        for step in 0..40 {
            let input = TurnInput {
                utterance: Some(answers[step % answers.len()].clone()),
                exit: step % 3 == 0,
                result: Some(json!({"vip": step % 2 == 0})),
                ..TurnInput::default()
            };
            match graph.next(&at, &input, &mut vars) {
                Ok(crate::domain::flow::Step::Goto(next)) => at = next,
                Ok(_) | Err(_) => break,
            }
        }
    }

    #[test]
    fn templates_render_in_linear_time_without_panicking(
        parts in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..400),
        repeat in 1usize..50,
    ) {
        let template = parts.concat().repeat(repeat);
        let vars = Variables::new().with("name", "Ada").with("context.x", json!({"y": [1, 2]}));
        let started = Instant::now();
        let rendered = render(&template, &vars);
        let names = template_variables(&template);
        let _ = whole_placeholder(&template);
        prop_assert!(started.elapsed() < Duration::from_secs(1));
        // Placeholders only shrink or become short values: no blow-up.
        prop_assert!(rendered.len() <= template.len() * 8 + 16);
        prop_assert!(names.len() <= template.len() / 5 + 1);
    }
}
