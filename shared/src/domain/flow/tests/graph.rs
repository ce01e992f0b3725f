//! Graph-shape checks: ids, start, edges, branching, dead ends and reachability.

use serde_json::{Value, json};

use super::{ask, condition, e, ec, end, invalid, n, say, start, valid};

/// A graph-shape problem: flow, and the key and message expected.
struct Case {
    name: &'static str,
    nodes: Vec<Value>,
    edges: Vec<Value>,
    key: &'static str,
    message: &'static str,
}

fn graph_cases() -> Vec<Case> {
    let is_adult = json!({"variable": "age", "op": "gte", "value": 18});
    vec![
        Case {
            name: "no start",
            nodes: vec![say("a"), end("z")],
            edges: vec![e("e1", "a", "z")],
            key: "nodes",
            message: "flow has no start node",
        },
        Case {
            name: "two starts",
            nodes: vec![start(), n("s2", "start", json!({})), end("z")],
            edges: vec![e("e1", "start", "z"), e("e2", "s2", "z")],
            key: "nodes.s2",
            message: "start node 's2' is one too many: a flow has exactly one start (the first is 'start')",
        },
        Case {
            name: "duplicate node id",
            nodes: vec![start(), say("a"), say("a"), end("z")],
            edges: vec![e("e1", "start", "a"), e("e2", "a", "z")],
            key: "nodes.a",
            message: "duplicate node id 'a' (nodes #2 and #3)",
        },
        Case {
            name: "node without id",
            nodes: vec![start(), say(""), end("z")],
            edges: vec![e("e1", "start", "z")],
            key: "nodes",
            message: "node #2 has no id",
        },
        Case {
            name: "duplicate edge id",
            nodes: vec![start(), say("a"), end("z")],
            edges: vec![e("e1", "start", "a"), e("e1", "a", "z")],
            key: "edges.e1",
            message: "duplicate edge id 'e1' (edges #1 and #2)",
        },
        Case {
            name: "edge to unknown node",
            nodes: vec![start(), say("a"), end("z")],
            edges: vec![e("e1", "start", "a"), e("e2", "a", "z"), e("e3", "z", "n9")],
            key: "edges.e3",
            message: "edge 'e3' points to unknown node 'n9'",
        },
        Case {
            name: "edge from unknown node",
            nodes: vec![start(), end("z")],
            edges: vec![e("e1", "start", "z"), e("e2", "ghost", "z")],
            key: "edges.e2",
            message: "edge 'e2' comes from unknown node 'ghost'",
        },
        Case {
            name: "edge into start",
            nodes: vec![start(), say("a"), end("z")],
            edges: vec![e("e1", "start", "a"), e("e2", "a", "start")],
            key: "edges.e2",
            message: "edge 'e2' points into the start node 'start'",
        },
        Case {
            name: "edge out of end",
            nodes: vec![start(), end("z"), say("a")],
            edges: vec![e("e1", "start", "z"), e("e2", "z", "a")],
            key: "edges.e2",
            message: "edge 'e2' leaves end node 'z': end and transfer nodes finish the call",
        },
        Case {
            name: "edge out of transfer",
            nodes: vec![
                start(),
                n("t", "transfer", json!({"number": "+14155550100"})),
                end("z"),
            ],
            edges: vec![e("e1", "start", "t"), e("e2", "t", "z")],
            key: "edges.e2",
            message: "edge 'e2' leaves transfer node 't'",
        },
        Case {
            name: "say with two ways on",
            nodes: vec![start(), say("a"), end("y"), end("z")],
            edges: vec![e("e1", "start", "a"), e("e2", "a", "y"), e("e3", "a", "z")],
            key: "nodes.a",
            message: "say node 'a' has 2 outgoing edges ('e2', 'e3'): it can only continue one way; use a condition node to branch",
        },
        Case {
            name: "conditioned edge out of say",
            nodes: vec![start(), say("a"), end("z")],
            edges: vec![e("e1", "start", "a"), ec("e2", "a", "z", json!("default"))],
            key: "edges.e2",
            message: "edge 'e2' has a condition but leaves say node 'a'",
        },
        Case {
            name: "on-invalid edge out of say",
            nodes: vec![start(), say("a"), end("z"), end("y")],
            edges: vec![
                e("e1", "start", "a"),
                e("e2", "a", "z"),
                ec("e3", "a", "y", json!({"on": "invalid"})),
            ],
            key: "edges.e3",
            message: "edge 'e3' is an on-invalid edge but leaves say node 'a': only ask nodes have one",
        },
        Case {
            name: "on with an unknown event",
            nodes: vec![start(), ask("q"), end("z"), end("y")],
            edges: vec![
                e("e1", "start", "q"),
                e("e2", "q", "z"),
                ec("e3", "q", "y", json!({"on": "timeout"})),
            ],
            key: "edges.e3",
            message: "on must be \"invalid\"",
        },
        Case {
            name: "ask with only an on-invalid edge",
            nodes: vec![start(), ask("q"), end("y")],
            edges: vec![
                e("e1", "start", "q"),
                ec("e2", "q", "y", json!({"on": "invalid"})),
            ],
            key: "nodes.q",
            message: "ask node 'q' has only an on-invalid edge",
        },
        Case {
            name: "ask with two on-invalid edges",
            nodes: vec![start(), ask("q"), end("z"), end("y")],
            edges: vec![
                e("e1", "start", "q"),
                e("e2", "q", "z"),
                ec("e3", "q", "y", json!({"on": "invalid"})),
                ec("e4", "q", "z", json!({"on": "invalid"})),
            ],
            key: "nodes.q",
            message: "ask node 'q' has 2 on-invalid edges ('e3', 'e4'): keep at most one",
        },
        Case {
            name: "condition node without default",
            nodes: vec![start(), ask("q"), condition("c"), end("y")],
            edges: vec![
                e("e1", "start", "q"),
                e("e2", "q", "c"),
                ec("e3", "c", "y", is_adult.clone()),
            ],
            key: "nodes.c",
            message: "condition node 'c' has no default edge",
        },
        Case {
            name: "condition node with two defaults",
            nodes: vec![start(), condition("c"), end("y"), end("z")],
            edges: vec![
                e("e1", "start", "c"),
                ec("e2", "c", "y", json!("default")),
                ec("e3", "c", "z", json!({"default": true})),
            ],
            key: "nodes.c",
            message: "condition node 'c' has 2 default edges ('e2', 'e3'): keep exactly one",
        },
        Case {
            name: "condition edge without a condition",
            nodes: vec![start(), condition("c"), end("y"), end("z")],
            edges: vec![
                e("e1", "start", "c"),
                e("e2", "c", "y"),
                ec("e3", "c", "z", json!("default")),
            ],
            key: "edges.e2",
            message: "edge 'e2' leaves condition node 'c' without a condition",
        },
        Case {
            name: "unknown op",
            nodes: vec![start(), ask("q"), condition("c"), end("y"), end("z")],
            edges: vec![
                e("e1", "start", "q"),
                e("e2", "q", "c"),
                ec(
                    "e3",
                    "c",
                    "y",
                    json!({"variable": "age", "op": "between", "value": 1}),
                ),
                ec("e4", "c", "z", json!("default")),
            ],
            key: "edges.e3",
            message: "op 'between' is not one of eq, ne, gt, gte, lt, lte, contains, exists, in, matches",
        },
        Case {
            name: "in without a list",
            nodes: vec![start(), ask("q"), condition("c"), end("y"), end("z")],
            edges: vec![
                e("e1", "start", "q"),
                e("e2", "q", "c"),
                ec(
                    "e3",
                    "c",
                    "y",
                    json!({"variable": "age", "op": "in", "value": 3}),
                ),
                ec("e4", "c", "z", json!("default")),
            ],
            key: "edges.e3",
            message: "value of in must be a list",
        },
        Case {
            name: "matches with a broken regex",
            nodes: vec![start(), condition("c"), end("y"), end("z")],
            edges: vec![
                e("e1", "start", "c"),
                ec(
                    "e3",
                    "c",
                    "y",
                    json!({"variable": "contact.phone", "op": "matches", "value": "+1"}),
                ),
                ec("e4", "c", "z", json!("default")),
            ],
            key: "edges.e3",
            message: "value is not a valid regex",
        },
        Case {
            name: "empty intent list",
            nodes: vec![start(), condition("c"), end("y"), end("z")],
            edges: vec![
                e("e1", "start", "c"),
                ec("e3", "c", "y", json!({"intent": []})),
                ec("e4", "c", "z", json!("default")),
            ],
            key: "edges.e3",
            message: "intent must be a non-empty list of intent names",
        },
        Case {
            name: "unreachable node",
            nodes: vec![start(), say("a"), say("island"), end("z")],
            edges: vec![
                e("e1", "start", "a"),
                e("e2", "a", "z"),
                e("e3", "island", "z"),
            ],
            key: "nodes.island",
            message: "node 'island' is unreachable: no path leads to it from the start node 'start'",
        },
        Case {
            name: "dead end after say",
            nodes: vec![start(), say("a")],
            edges: vec![e("e1", "start", "a")],
            key: "nodes.a",
            message: "say node 'a' has no outgoing edge, so the call would hang here",
        },
        Case {
            name: "start leading nowhere",
            nodes: vec![start()],
            edges: vec![],
            key: "nodes.start",
            message: "start node 'start' has no outgoing edge",
        },
    ]
}

#[test]
fn every_graph_problem_is_reported_on_the_right_key() {
    for case in graph_cases() {
        let errors = invalid(case.nodes, case.edges);
        assert!(
            errors
                .messages_for(case.key)
                .iter()
                .any(|m| m.contains(case.message)),
            "{}: expected '{}' on {}, got {:#?}",
            case.name,
            case.message,
            case.key,
            errors.fields()
        );
    }
}

#[test]
fn a_flow_with_several_problems_reports_all_of_them() {
    let errors = invalid(
        vec![
            start(),
            n("greet", "say", json!({})),
            n(
                "q",
                "ask",
                json!({"question": "Plan?", "variable": "plan", "validation": "choice"}),
            ),
            condition("c"),
            n("t", "tool", json!({"tool_id": "no_such_tool"})),
            n("orphan", "say", json!({"text": "never said"})),
            end("bye"),
        ],
        vec![
            e("e1", "start", "greet"),
            e("e2", "greet", "q"),
            e("e3", "q", "c"),
            ec("e4", "c", "t", json!({"intent": ["upgrade"]})),
            e("e5", "t", "bye"),
            e("e6", "bye", "greet"),
            e("e7", "greet", "n9"),
        ],
    );
    let fields = errors.fields();
    let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "edges.e6",
            "edges.e7",
            "nodes.c",
            "nodes.greet",
            "nodes.orphan",
            "nodes.q",
            "nodes.t"
        ]
    );
    assert_eq!(fields["edges.e7"], "edge 'e7' points to unknown node 'n9'");
    assert_eq!(
        fields["nodes.greet"],
        "text is required; say node 'greet' has 2 outgoing edges ('e2', 'e7'): it can only continue one way; use a condition node to branch"
    );
    assert!(fields["nodes.c"].contains("no default edge"));
    assert!(fields["nodes.t"].contains("tool 'no_such_tool' does not exist"));
    assert!(fields["nodes.orphan"].contains("unreachable"));
    assert!(
        errors
            .to_string()
            .starts_with(&format!("invalid flow ({} problems)", errors.len()))
    );
}

#[test]
fn both_default_spellings_and_an_ask_failure_edge_are_accepted() {
    let graph = valid(
        vec![
            start(),
            ask("q"),
            condition("c"),
            condition("d"),
            end("y"),
            end("z"),
            end("w"),
        ],
        vec![
            e("e1", "start", "q"),
            e("e2", "q", "c"),
            ec("e3", "q", "w", json!({"on": "invalid"})),
            ec(
                "e4",
                "c",
                "y",
                json!({"variable": "age", "op": ">=", "value": 18}),
            ),
            ec("e5", "c", "d", json!("default")),
            ec("e6", "d", "z", json!({"default": true})),
        ],
    );
    assert_eq!(graph.outgoing("q").count(), 2);
    assert_eq!(graph.start().id, "start");
    assert_eq!(graph.node("w").map(|n| n.id.as_str()), Some("w"));
}
