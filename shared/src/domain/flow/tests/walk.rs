//! `FlowGraph::next`: walking a call through a flow.

use serde_json::{Value, json};

use super::super::{
    FlowGraph, InvalidAnswer, NodeKind, Step, TurnInput, Variables, WalkError, render_value,
};
use super::{e, ec, n, valid};

fn goto(id: &str) -> Result<Step, WalkError> {
    Ok(Step::Goto(id.to_string()))
}

/// Greeting → ask name → branch on intent → tool → end, with a transfer and an LLM detour.
fn support_flow() -> FlowGraph {
    valid(
        vec![
            n("start", "start", json!({})),
            n(
                "greet",
                "say",
                json!({"text": "Hi {{contact.first_name}}, this is {{agent.name}}."}),
            ),
            n(
                "ask_name",
                "ask",
                json!({"question": "Who am I speaking with?", "variable": "caller_name"}),
            ),
            n("route", "condition", json!({})),
            n(
                "lookup",
                "tool",
                json!({
                    "tool_id": "crm_lookup",
                    "args": {"order_id": "{{context.order_id}}", "name": "{{caller_name}}", "limit": 1},
                    "save_as": "order"
                }),
            ),
            n(
                "human",
                "transfer",
                json!({"number": "{{context.escalation_number}}"}),
            ),
            n(
                "chat",
                "llm",
                json!({"prompt": "Help {{caller_name}}", "exit_condition": "question answered"}),
            ),
            n(
                "bye",
                "end",
                json!({"text": "Thanks {{caller_name}}, your order is {{order.status}}."}),
            ),
        ],
        vec![
            e("e1", "start", "greet"),
            e("e2", "greet", "ask_name"),
            e("e3", "ask_name", "route"),
            ec(
                "e4",
                "route",
                "lookup",
                json!({"intent": ["order_status", "where_is_my_order"]}),
            ),
            ec("e5", "route", "human", json!({"intent": "agent"})),
            ec("e6", "route", "chat", "default".into()),
            e("e7", "lookup", "bye"),
            e("e8", "chat", "bye"),
        ],
    )
}

fn call_vars() -> Variables {
    Variables::new()
        .with("contact.first_name", "Dana")
        .with("agent.name", "Robin")
        .with("context.order_id", "A-1001")
        .with("context.escalation_number", "+1 (415) 555-0100")
}

#[test]
fn a_support_call_walks_from_greeting_to_goodbye() {
    let graph = support_flow();
    let mut vars = call_vars();
    let none = TurnInput::default();

    assert_eq!(graph.start().id, "start");
    assert_eq!(graph.next("start", &none, &mut vars), goto("greet"));
    let Some(NodeKind::Say { text }) = graph.node("greet").map(|n| &n.kind) else {
        panic!("greet is a say node");
    };
    assert_eq!(super::super::render(text, &vars), "Hi Dana, this is Robin.");
    assert_eq!(graph.next("greet", &none, &mut vars), goto("ask_name"));

    let answer = TurnInput::said("Dana Scully.").with_intents(["order_status"]);
    assert_eq!(graph.next("ask_name", &answer, &mut vars), goto("route"));
    assert_eq!(vars.get("caller_name"), Some(&json!("Dana Scully")));
    assert_eq!(graph.next("route", &answer, &mut vars), goto("lookup"));

    let Some(NodeKind::Tool { tool_id, args, .. }) = graph.node("lookup").map(|n| &n.kind) else {
        panic!("lookup is a tool node");
    };
    assert_eq!(tool_id, "crm_lookup");
    assert_eq!(
        render_value(&Value::Object(args.clone()), &vars),
        json!({"order_id": "A-1001", "name": "Dana Scully", "limit": 1})
    );
    let result = TurnInput::result(json!({"status": "shipped", "eta": "2026-05-04"}));
    assert_eq!(graph.next("lookup", &result, &mut vars), goto("bye"));
    assert_eq!(
        graph.next("bye", &none, &mut vars),
        Ok(Step::End {
            text: Some("Thanks Dana Scully, your order is shipped.".to_string())
        })
    );
}

#[test]
fn intents_pick_the_first_matching_edge_and_fall_back_to_default() {
    let graph = support_flow();
    let mut vars = call_vars();
    let cases = [
        (vec!["WHERE_IS_MY_ORDER"], "lookup"),
        (vec!["agent"], "human"),
        (vec!["agent", "order_status"], "lookup"),
        (vec!["smalltalk"], "chat"),
        (vec![], "chat"),
    ];
    for (intents, expected) in cases {
        let input = TurnInput::default().with_intents(intents.clone());
        assert_eq!(
            graph.next("route", &input, &mut vars),
            goto(expected),
            "{intents:?}"
        );
    }
}

#[test]
fn transfer_renders_and_normalises_the_number() {
    let graph = support_flow();
    let mut vars = call_vars();
    assert_eq!(
        graph.next("human", &TurnInput::default(), &mut vars),
        Ok(Step::Transfer {
            number: "+14155550100".to_string()
        })
    );
    vars.set("context.escalation_number", json!("ask Bob"));
    assert_eq!(
        graph.next("human", &TurnInput::default(), &mut vars),
        Err(WalkError::InvalidTransferNumber {
            node: "human".to_string(),
            number: "ask Bob".to_string()
        })
    );
}

#[test]
fn llm_nodes_stay_until_the_engine_reports_exit() {
    let graph = support_flow();
    let mut vars = call_vars();
    assert_eq!(
        graph.next("chat", &TurnInput::said("and also..."), &mut vars),
        Ok(Step::Stay)
    );
    assert_eq!(
        graph.next("chat", &TurnInput::exited(), &mut vars),
        goto("bye")
    );
}

#[test]
fn engine_mistakes_are_errors_not_panics() {
    let graph = support_flow();
    let mut vars = call_vars();
    assert_eq!(
        graph.next("nope", &TurnInput::default(), &mut vars),
        Err(WalkError::UnknownNode("nope".to_string()))
    );
    assert_eq!(
        graph.next("lookup", &TurnInput::default(), &mut vars),
        Err(WalkError::MissingResult {
            node: "lookup".to_string()
        })
    );
}

/// start → ask (number, `retries`) → done, optionally with an on-invalid edge → fallback.
fn age_flow(retries: u32, failure_edge: bool) -> FlowGraph {
    let mut nodes = vec![
        n("start", "start", json!({})),
        n(
            "age",
            "ask",
            json!({"question": "How old are you?", "variable": "age", "validation": "number", "retries": retries}),
        ),
        n("done", "end", json!({"text": "You are {{age}}."})),
    ];
    let mut edges = vec![e("e1", "start", "age"), e("e2", "age", "done")];
    if failure_edge {
        nodes.push(n("fallback", "transfer", json!({"number": "+14155550100"})));
        edges.push(ec("e3", "age", "fallback", json!({"on": "invalid"})));
    }
    valid(nodes, edges)
}

#[test]
fn ask_reprompts_until_retries_run_out_then_takes_the_failure_edge() {
    let graph = age_flow(2, true);
    let mut vars = Variables::new();
    let reprompt = |attempt| {
        Ok(Step::Reprompt {
            node: "age".to_string(),
            attempt,
            reason: InvalidAnswer::NotANumber,
        })
    };
    let first = graph.next("age", &TurnInput::said("banana"), &mut vars);
    assert_eq!(first, reprompt(1));
    let second = graph.next(
        "age",
        &TurnInput::said("old enough").at_attempt(1),
        &mut vars,
    );
    assert_eq!(second, reprompt(2));
    let third = graph.next("age", &TurnInput::said("why?").at_attempt(2), &mut vars);
    assert_eq!(third, goto("fallback"));
    assert_eq!(vars.get("age"), None);
}

#[test]
fn ask_stores_a_typed_answer_on_a_later_attempt() {
    let graph = age_flow(2, true);
    let mut vars = Variables::new();
    let answer = TurnInput::said("forty two").at_attempt(1);
    assert_eq!(graph.next("age", &answer, &mut vars), goto("done"));
    assert_eq!(vars.get("age"), Some(&json!(42)));
    assert_eq!(
        graph.next("done", &TurnInput::default(), &mut vars),
        Ok(Step::End {
            text: Some("You are 42.".to_string())
        })
    );
}

#[test]
fn ask_without_a_failure_edge_ends_the_call_when_retries_run_out() {
    let graph = age_flow(0, false);
    let mut vars = Variables::new();
    assert_eq!(
        graph.next("age", &TurnInput::default(), &mut vars),
        Ok(Step::End { text: None })
    );
}

/// Whether `{variable: "x", op, value}` holds when `x` is `x` (`None`: unset).
fn holds(x: Option<Value>, op: &str, value: Value) -> bool {
    let graph = valid(
        vec![
            n("start", "start", json!({})),
            n("c", "condition", json!({})),
            n("yes", "end", json!({})),
            n("no", "end", json!({})),
        ],
        vec![
            e("e1", "start", "c"),
            ec(
                "e2",
                "c",
                "yes",
                json!({"variable": "context.x", "op": op, "value": value}),
            ),
            ec("e3", "c", "no", json!("default")),
        ],
    );
    let mut vars = Variables::new().with("context.limit", 100);
    if let Some(x) = x {
        vars.set("context.x", x);
    }
    match graph.next("c", &TurnInput::default(), &mut vars) {
        Ok(Step::Goto(target)) => target == "yes",
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn condition_ops_compare_numbers_strings_and_booleans_sensibly() {
    let cases: Vec<(Option<Value>, &str, Value, bool)> = vec![
        (Some(json!(42)), "eq", json!("42"), true),
        (Some(json!("42.0")), "eq", json!(42), true),
        (Some(json!("Gold")), "eq", json!("gold"), true),
        (Some(json!(true)), "eq", json!("yes"), true),
        (Some(json!(false)), "eq", json!(true), false),
        (Some(json!("x")), "ne", json!("y"), true),
        (None, "ne", json!("y"), true),
        (None, "eq", Value::Null, false),
        (Some(json!("10")), "gt", json!(9), true),
        (Some(json!("10")), "gt", json!("9"), true),
        (Some(json!("b")), "gt", json!("a"), true),
        (Some(json!("abc")), "gt", json!(5), false),
        (Some(json!(5)), "gte", json!(5), true),
        (Some(json!(4.5)), "lte", json!("5"), true),
        (Some(json!("2026-01-05")), "lt", json!("2026-02-01"), true),
        (Some(json!(150)), "gt", json!("{{context.limit}}"), true),
        (Some(json!(50)), ">", json!("{{context.limit}}"), false),
        (
            Some(json!("Premium plan")),
            "contains",
            json!("premium"),
            true,
        ),
        (Some(json!(["a", "b"])), "contains", json!("B"), true),
        (Some(json!("yes")), "exists", Value::Null, true),
        (Some(json!("  ")), "exists", Value::Null, false),
        (None, "exists", json!(false), true),
        (Some(json!("gold")), "in", json!(["Silver", "Gold"]), true),
        (Some(json!(3)), "in", json!([1, 2, "3"]), true),
        (
            Some(json!("bronze")),
            "in",
            json!(["Silver", "Gold"]),
            false,
        ),
        (
            Some(json!("ORD-123")),
            "matches",
            json!("^ORD-[0-9]+$"),
            true,
        ),
        (
            Some(json!("my ORD-123")),
            "matches",
            json!("ORD-[0-9]+"),
            true,
        ),
        (Some(json!("ord")), "matches", json!("^ORD"), false),
    ];
    for (x, op, value, expected) in cases {
        assert_eq!(
            holds(x.clone(), op, value.clone()),
            expected,
            "{x:?} {op} {value}"
        );
    }
}
